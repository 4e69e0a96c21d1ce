"""The "events" data set: its columns and its PostgreSQL table.

Every other bench module takes the shape of the data from here (and from
events_arrow.py, its Arrow types), so the generator, the peers and the checksum
cannot drift apart. No pyarrow here: the raw COPY peer imports this module, and
its peak RSS should not include a library it does not use.
"""

from __future__ import annotations

TABLE_SCHEMA = "public"
TABLE_NAME = "events"
QUALIFIED_TABLE = f"{TABLE_SCHEMA}.{TABLE_NAME}"

# (column, PostgreSQL type, DuckDB type): the order is the file's and the table's.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("event_id", "bigint PRIMARY KEY", "BIGINT"),
    ("occurred_at", "timestamptz", "TIMESTAMPTZ"),
    ("user_id", "integer", "INTEGER"),
    ("session_id", "uuid", "UUID"),
    ("country", "text", "VARCHAR"),
    ("event_type", "text", "VARCHAR"),
    ("price", "numeric(12,2)", "DECIMAL(12,2)"),
    ("quantity", "integer", "INTEGER"),
    ("is_mobile", "boolean", "BOOLEAN"),
    ("user_agent", "text", "VARCHAR"),
    ("note", "text", "VARCHAR"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in COLUMNS)

CREATE_TABLE_SQL = (
    f"CREATE TABLE {QUALIFIED_TABLE} ("
    + ", ".join(f"{name} {pg_type}" for name, pg_type, _ in COLUMNS)
    + ")"
)

DUCKDB_COLUMN_TYPES: dict[str, str] = {name: duck_type for name, _, duck_type in COLUMNS}
