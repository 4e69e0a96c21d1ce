"""The "events" data set's Arrow schema: the exact types a careful loader gives each column."""

from __future__ import annotations

import pyarrow as pa

PRICE_TYPE = pa.decimal128(12, 2)

# uuid is 16 raw bytes, the way PostgreSQL's binary COPY expects it (and
# Parquet's UUID logical type stores it).
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
