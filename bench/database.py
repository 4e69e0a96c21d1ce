"""The benchmark's SQL: recreate the target table before a load, verify it after.

The checksum is order-independent and exact for what a client reads back:
every row rendered as text (`events::text`, in UTC) hashed with
`hashtextextended`, summed as numeric so it cannot overflow. Two loads with the
same (count, checksum) hold the same rows, whatever order they arrived in.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from events import CREATE_TABLE_SQL, TABLE_NAME, TABLE_SCHEMA

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
PGINGEST_SCHEMA = "pgingest"
# Rendering timestamptz as text depends on the session's TimeZone.
CHECKSUM_TIMEZONE = "UTC"


@dataclass(frozen=True)
class TableState:
    """What a load left in the table."""

    rows: int
    checksum: str


def prepare_target(database_url: str) -> None:
    """Drop and recreate the table (with its primary key) and pgingest's manifest schema.

    Dropping schema pgingest makes every pgingest run load every file instead of
    skipping those an earlier run loaded. The CHECKPOINT writes out the previous
    load's dirty pages now, so they do not slow down the next, timed, load.
    """
    table = sql.Identifier(TABLE_SCHEMA, TABLE_NAME)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(PGINGEST_SCHEMA))
        )
        connection.execute(sql.SQL(CREATE_TABLE_SQL))
        connection.execute("CHECKPOINT")


def read_table_state(database_url: str) -> TableState:
    """Count the table's rows and checksum their text rendering."""
    table = sql.Identifier(TABLE_SCHEMA, TABLE_NAME)
    query = sql.SQL(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text"
        " FROM {} AS t"
    ).format(table)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("SET TimeZone TO {}").format(sql.Literal(CHECKSUM_TIMEZONE)))
        row = connection.execute(query).fetchone()
    assert row is not None  # an aggregate always returns one row
    return TableState(rows=int(row[0]), checksum=str(row[1]))


def server_version(database_url: str) -> str:
    """The server's version string, for the results' header."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"
