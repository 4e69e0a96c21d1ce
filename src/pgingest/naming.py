"""Table names as PostgreSQL reads them, and URLs shown without their password."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from psycopg import sql

from pgingest.redact import redact_url  # kept here for earlier importers

__all__ = [
    "MAX_IDENTIFIER_BYTES",
    "TableName",
    "parse_table_name",
    "redact_url",
    "truncate_identifier",
]

DEFAULT_SCHEMA = "public"
# NAMEDATALEN - 1: PostgreSQL keeps the first 63 bytes of a longer name.
MAX_IDENTIFIER_BYTES = 63


def truncate_identifier(name: str) -> str:
    """The name as PostgreSQL stores it: at most 63 bytes, never cut inside a character.

    As the server's truncate_identifier (pg_mbcliplen) does in a UTF-8 database.
    """
    raw = name.encode("utf-8")
    if len(raw) <= MAX_IDENTIFIER_BYTES:
        return name
    return raw[:MAX_IDENTIFIER_BYTES].decode("utf-8", "ignore")


@dataclass(frozen=True, order=True)
class TableName:
    """A schema-qualified table name, already case-folded as PostgreSQL would."""

    schema: str
    name: str

    @property
    def identifier(self) -> sql.Identifier:
        """The name quoted for SQL; a name from a config can never inject SQL."""
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{_show(self.schema)}.{_show(self.name)}"


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


@functools.lru_cache(maxsize=4096)  # a table's name is shown per file and per batch
def _show(part: str) -> str:
    return part if _PLAIN.fullmatch(part) else '"' + part.replace('"', '""') + '"'


def parse_table_name(text: str) -> TableName:
    """``events`` → public.events; ``Sales."Q1 Data"`` → sales."Q1 Data".

    Unquoted parts fold to lower case and double-quoted parts keep their case,
    exactly as in SQL, so the name means what it would mean in psql.
    """
    parts: list[str] = []
    index = 0
    length = len(text)
    while True:
        if index < length and text[index] == '"':
            end = index + 1
            value = ""
            while True:
                close = text.find('"', end)
                if close < 0:
                    raise ValueError(f"unclosed double quote in table name {text!r}")
                value += text[end:close]
                if close + 1 < length and text[close + 1] == '"':
                    value += '"'
                    end = close + 2
                    continue
                index = close + 1
                break
            if not value:
                raise ValueError(f"empty quoted name in table name {text!r}")
            parts.append(value)
        else:
            end = text.find(".", index)
            end = length if end < 0 else end
            value = text[index:end].strip()
            if not value:
                raise ValueError(f"empty part in table name {text!r}")
            if '"' in value:
                raise ValueError(f"stray double quote in table name {text!r}")
            parts.append(value.lower())
            index = end
        if index >= length:
            break
        if text[index] != ".":
            raise ValueError(f"expected '.' after a quoted name in table name {text!r}")
        index += 1
    if len(parts) == 1:
        return TableName(DEFAULT_SCHEMA, parts[0])
    if len(parts) == 2:
        return TableName(parts[0], parts[1])
    raise ValueError(f"table name {text!r} has {len(parts)} parts; use table or schema.table")
