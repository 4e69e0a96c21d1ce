"""What the database says about target tables: columns, types, keys, time zone."""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from typing import Any

import psycopg

from pgingest.naming import TableName
from pgingest.types import PgType, TargetColumn

__all__ = ["Table", "read_table", "server_timezone", "table_exists"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table:
    """A target table and its loadable columns, in table order."""

    name: TableName
    oid: int
    columns: tuple[TargetColumn, ...]
    primary_key: tuple[str, ...] = ()

    def column(self, name: str) -> TargetColumn | None:
        """The column with exactly this name, if any."""
        for column in self.columns:
            if column.name == name:
                return column
        return None


_TABLE_OID = """
SELECT c.oid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
"""

# Generated columns cannot be written by COPY; identity columns can (BY DEFAULT)
# or need OVERRIDING (ALWAYS), which COPY lacks: both are left to the server.
_COLUMNS = """
SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' AS has_default,
       a.attidentity = 'a' AS identity_always
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

_TYPE = """
SELECT t.typtype, t.typbasetype, t.typtypmod, t.typreceive::text, t.typelem,
       format_type(t.oid, NULL), t.typcategory
FROM pg_catalog.pg_type t WHERE t.oid = %s
"""

_PRIMARY_KEY = """
SELECT a.attname
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = %s AND i.indisprimary
ORDER BY array_position(i.indkey, a.attnum)
"""


def table_exists(conn: psycopg.Connection[Any], name: TableName) -> bool:
    """Whether ``name`` is an ordinary or partitioned table."""
    return conn.execute(_TABLE_OID, (name.schema, name.name)).fetchone() is not None


def _resolve_type(conn: psycopg.Connection[Any], oid: int, typmod: int) -> PgType:
    row = conn.execute(_TYPE, (oid,)).fetchone()
    if row is None:
        raise LookupError(f"type {oid} not found")
    typtype, base, base_typmod, receive, element, name, category = row
    if typtype == "d":  # a domain: its values travel as the base type
        return _resolve_type(conn, base, base_typmod if base_typmod != -1 else typmod)
    display = conn.execute("SELECT format_type(%s, %s)", (oid, typmod)).fetchone()
    element_type = None
    if category == "A" and element:
        element_type = _resolve_type(conn, element, typmod)
    return PgType(
        oid=oid,
        name=display[0] if display else name,
        receive=receive,
        typmod=typmod,
        element=element_type,
    )


def read_table(conn: psycopg.Connection[Any], name: TableName) -> Table | None:
    """The table's loadable columns with their types, or None if there is no such table."""
    row = conn.execute(_TABLE_OID, (name.schema, name.name)).fetchone()
    if row is None:
        return None
    oid = row[0]
    columns = []
    for attname, type_oid, typmod, not_null, has_default, _always in conn.execute(
        _COLUMNS, (oid,)
    ).fetchall():
        columns.append(
            TargetColumn(
                name=attname,
                type=_resolve_type(conn, type_oid, typmod),
                not_null=not_null,
                has_default=has_default,
            )
        )
    key = tuple(r[0] for r in conn.execute(_PRIMARY_KEY, (oid,)).fetchall())
    return Table(name=name, oid=oid, columns=tuple(columns), primary_key=key)


def server_timezone(conn: psycopg.Connection[Any]) -> str:
    """The session TimeZone, used for timestamps without an offset going into timestamptz."""
    row = conn.execute("SELECT current_setting('TimeZone')").fetchone()
    name = str(row[0]) if row else "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # Never read as another zone: zone-less texts then go to the server's own
        # input function, and typed zone-less timestamps are refused with the reason.
        logger.warning(
            "server time zone %r is unknown to pgingest: zone-less times into timestamptz "
            "are read by the server (texts) or refused (typed values)",
            name,
        )
    return name
