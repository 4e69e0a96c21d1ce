"""``create: true``: a missing target table made from inferred (or configured) column types."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from pgingest.errors import ConfigError, SourceError
from pgingest.infer import InferredColumn
from pgingest.load.connect import translate_db_error
from pgingest.naming import MAX_IDENTIFIER_BYTES, TableName, truncate_identifier

__all__ = ["add_columns", "canonical_type", "create_table", "drop_if_unused"]

logger = logging.getLogger(__name__)

# How long dropping an empty table created by this run waits for its lock: a
# concurrent run that uses the table keeps it (it is left, empty, as before).
DROP_LOCK_TIMEOUT = "2s"


# A type name with an optional (p[,s]) modifier and [] suffix: double precision,
# numeric(12,2), varchar(20)[], public.my_enum. Nothing else reaches the DDL.
_SQL_TYPE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:[ .][A-Za-z_][A-Za-z0-9_]*)*"
    r"(?:\s*\(\s*\d+\s*(?:,\s*-?\d+\s*)?\))?(?:\s*\[\])?"
)


def canonical_type(conn: psycopg.Connection[Any], type_text: str, *, location: str) -> str:
    """A configured SQL type, checked by the server; a ConfigError if it is not a type.

    The pattern keeps arbitrary SQL out of DDL; the server then confirms the type exists.
    """
    text = type_text.strip()
    if not _SQL_TYPE.fullmatch(text):
        raise ConfigError(
            f"{location}: {type_text!r} is not a SQL type name",
            hint="use a PostgreSQL type such as text, bigint, numeric(12,2), timestamptz",
        )
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SELECT NULL::{}").format(sql.SQL(text)))
    except psycopg.Error as exc:
        if translate_db_error(exc).is_transient:  # a lost connection, not a bad type
            raise
        raise ConfigError(
            f"{location}: unknown SQL type {type_text!r}",
            hint="use a PostgreSQL type such as text, bigint, numeric(12,2), timestamptz",
        ) from exc
    return text


def add_columns(
    conn: psycopg.Connection[Any],
    name: TableName,
    columns: Sequence[InferredColumn],
    *,
    overrides: Mapping[str, str],
    source_index: int,
) -> None:
    """evolve: add_columns — the files' new columns added to an existing table."""
    with conn.transaction():
        for column in columns:
            override = overrides.get(column.name)
            sql_type = (
                canonical_type(
                    conn, override, location=f"sources[{source_index}].columns.{column.name}"
                )
                if override
                else column.sql_type
            )
            try:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        name.identifier, sql.Identifier(column.name), sql.SQL(sql_type)
                    )
                )
            except psycopg.Error as exc:
                raise translate_db_error(exc, table=str(name)) from exc


def create_table(
    conn: psycopg.Connection[Any],
    name: TableName,
    columns: Sequence[InferredColumn],
    *,
    overrides: Mapping[str, str],
    source_index: int,
    primary_key: Sequence[str] | None = None,
) -> list[InferredColumn]:
    """Create schema (if needed) and table; returns the columns as created."""
    final: list[InferredColumn] = []
    for column in columns:
        override = overrides.get(column.name)
        if override is not None:
            location = f"sources[{source_index}].columns.{column.name}"
            final.append(
                InferredColumn(column.name, canonical_type(conn, override, location=location))
            )
        else:
            final.append(column)
    unknown = set(overrides) - {c.name for c in columns}
    if unknown:
        raise ConfigError(
            f"sources[{source_index}].columns names {sorted(unknown)!r}, "
            "which the files do not have",
            hint="check the names against the files' header or keys",
        )
    _check_distinct_names([c.name for c in final])
    parts = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type)) for c in final]
    if primary_key:  # upsert's ON CONFLICT needs it
        parts.append(
            sql.SQL("PRIMARY KEY ({})").format(
                sql.SQL(", ").join(sql.Identifier(k) for k in primary_key)
            )
        )
    definitions = sql.SQL(", ").join(parts)
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name.schema))
            )
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(name.identifier, definitions)
            )
    except psycopg.Error as exc:
        raise translate_db_error(exc, table=str(name)) from exc
    return final


def _check_distinct_names(names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        stored = truncate_identifier(name)
        if stored in seen:
            raise SourceError(
                f"columns {seen[stored]!r} and {name!r} are the same in their first "
                f"{MAX_IDENTIFIER_BYTES} bytes, the longest name PostgreSQL keeps",
                hint="rename one in the files (or give csv.column_names)",
            )
        seen[stored] = name


def drop_if_unused(conn: psycopg.Connection[Any], name: TableName) -> bool:
    """Drop a table this run created when no row and no manifest entry uses it.

    A run whose files all failed leaves nothing behind. The check and the drop
    hold the table's lock, so a concurrent run that loaded into it keeps it.
    """
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(DROP_LOCK_TIMEOUT))
            )
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(name.identifier))
            used = conn.execute(
                sql.SQL(
                    "SELECT EXISTS (SELECT 1 FROM {}) OR EXISTS "
                    "(SELECT 1 FROM pgingest.files WHERE table_name = %s)"
                ).format(name.identifier),
                (str(name),),
            ).fetchone()
            if used is None or used[0]:
                return False
            conn.execute(sql.SQL("DROP TABLE {}").format(name.identifier))
    except psycopg.Error as exc:
        logger.warning("could not drop the empty table %s this run created: %s", name, exc)
        return False
    logger.info("dropped table %s: this run created it and none of its files loaded", name)
    return True
