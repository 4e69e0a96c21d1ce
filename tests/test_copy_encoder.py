"""The COPY encoder's plan: built once per (schema, column types), the same bytes as per field."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pgpq
import psycopg
import pyarrow as pa

from pgingest.load.copy import CopyWriter, new_encoder
from pgingest.naming import TableName
from pgingest.types import (
    PgType,
    TargetColumn,
    arrow_type_for,
    encoder_builder_for,
    encoder_builders,
)

UTC = dt.UTC

# One column of every kind whose encoder pgpq infers, with values and a NULL.
INFERRED: list[tuple[PgType, list[Any]]] = [
    (PgType(21, "int2", "int2recv"), [1, None, -32768]),
    (PgType(23, "int4", "int4recv"), [7, None, 2**31 - 1]),
    (PgType(20, "int8", "int8recv"), [-(2**63), None, 42]),
    (PgType(700, "float4", "float4recv"), [1.5, None, -0.0]),
    (PgType(701, "float8", "float8recv"), [1e300, None, float("inf")]),
    (
        PgType(1700, "numeric", "numeric_recv", typmod=((12 << 16) | 2) + 4),
        [decimal.Decimal("4999.99"), None, decimal.Decimal("-0.01")],
    ),
    (PgType(16, "bool", "boolrecv"), [True, None, False]),
    (PgType(25, "text", "textrecv"), ['héllo, "wörld"\n', None, ""]),
    (PgType(1043, "varchar", "varcharrecv", typmod=24), ["ab", None, "x"]),
    (PgType(114, "json", "json_recv"), ['{"a": 1}', None, "[]"]),
    (PgType(17, "bytea", "bytearecv"), [b"\x00\xff", None, b""]),
    (PgType(1082, "date", "date_recv"), [dt.date(2024, 2, 29), None, dt.date(1, 1, 1)]),
    (PgType(1083, "time", "time_recv"), [dt.time(23, 59, 59, 999999), None, dt.time(0)]),
    (PgType(1114, "timestamp", "timestamp_recv"), [dt.datetime(2024, 1, 1, 12), None, None]),
    (
        PgType(1184, "timestamptz", "timestamptz_recv"),
        [dt.datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=UTC), None, None],
    ),
    (PgType(2950, "uuid", "uuid_recv"), [bytes(range(16)), None, b"\xff" * 16]),
    (PgType(1186, "interval", "interval_recv"), [bytes(16), None, b"\x01" * 16]),
]


def _batch(types: list[tuple[PgType, list[Any]]]) -> tuple[pa.RecordBatch, list[TargetColumn]]:
    columns = [TargetColumn(f"c{i}", pg_type) for i, (pg_type, _) in enumerate(types)]
    arrays = [pa.array(values, arrow_type_for(pg_type)) for pg_type, values in types]
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns]), columns


def _encoded(encoder: pgpq.ArrowToPostgresBinaryEncoder, batch: pa.RecordBatch) -> bytes:
    return (
        bytes(encoder.write_header()) + bytes(encoder.write_batch(batch)) + bytes(encoder.finish())
    )


def _per_field(batch: pa.RecordBatch, columns: list[TargetColumn]) -> bytes:
    builders = {
        field.name: encoder_builder_for(field, column.type)
        for field, column in zip(batch.schema, columns, strict=True)
    }
    encoder = pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(batch.schema, builders)
    return _encoded(encoder, batch)


def test_inferred_encoders_write_the_same_bytes_as_one_builder_per_field() -> None:
    batch, columns = _batch(INFERRED)
    assert encoder_builders(batch.schema, [c.type for c in columns]) is None
    assert _encoded(new_encoder(batch.schema, columns), batch) == _per_field(batch, columns)


def test_jsonb_and_lists_keep_their_own_encoders() -> None:
    jsonb = PgType(3802, "jsonb", "jsonb_recv")
    int4 = PgType(23, "int4", "int4recv")
    int_array = PgType(1007, "_int4", "array_recv", element=int4)
    batch, columns = _batch([(jsonb, ['{"a": 1}', None]), (int_array, [[1, None, 3], None])])
    builders = encoder_builders(batch.schema, [c.type for c in columns])
    assert builders is not None
    assert set(builders) == {"c0", "c1"}
    assert _encoded(new_encoder(batch.schema, columns), batch) == _per_field(batch, columns)


def test_the_plan_is_built_once_per_schema_and_types() -> None:
    jsonb = PgType(3802, "jsonb", "jsonb_recv")
    batch, columns = _batch([(jsonb, ["{}"])])
    first = encoder_builders(batch.schema, [c.type for c in columns])
    again = encoder_builders(pa.schema(list(batch.schema)), [c.type for c in columns])
    assert first is not None
    assert again is first


def test_many_small_copies_with_one_plan_load_every_value(db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (c0 int8, c1 text, c2 jsonb, c3 timestamptz)")
    types = [
        PgType(20, "int8", "int8recv"),
        PgType(25, "text", "textrecv"),
        PgType(3802, "jsonb", "jsonb_recv"),
        PgType(1184, "timestamptz", "timestamptz_recv"),
    ]
    columns = [TargetColumn(f"c{i}", t) for i, t in enumerate(types)]
    moment = dt.datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    with db.cursor() as cursor:
        for file_index in range(30):
            batch = pa.RecordBatch.from_arrays(
                [
                    pa.array([file_index, None], pa.int64()),
                    pa.array([f"file {file_index}", None], pa.string()),
                    pa.array([f'{{"n": {file_index}}}', None], pa.string()),
                    pa.array([moment, None], pa.timestamp("us", tz="UTC")),
                ],
                names=[c.name for c in columns],
            )
            with CopyWriter(cursor, TableName("public", "t"), columns) as writer:
                writer.write(batch)
    got = db.execute(
        "SELECT count(*), count(c0), sum(c0), count(DISTINCT c1), sum((c2->>'n')::int),"
        " min(c3), max(c3) FROM t"
    ).fetchone()
    assert got == (60, 30, sum(range(30)), 30, sum(range(30)), moment, moment)
