"""The "events" data set: its columns, its PostgreSQL table and its Arrow schema.

Every other bench module takes the shape of the data from here, so the
generator, the peers and the checksum cannot drift apart.
"""

from __future__ import annotations

import pyarrow as pa

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

PRICE_TYPE = pa.decimal128(12, 2)

# The types a careful loader gives each column; uuid is 16 raw bytes, the way
# PostgreSQL's binary COPY expects it (and Parquet's UUID logical type stores it).
ARROW_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.int64(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC")),
        pa.field("user_id", pa.int32()),
        pa.field("session_id", pa.uuid()),
        pa.field("country", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("price", PRICE_TYPE),
        pa.field("quantity", pa.int32()),
        pa.field("is_mobile", pa.bool_()),
        pa.field("user_agent", pa.string()),
        pa.field("note", pa.string()),
    ]
)
