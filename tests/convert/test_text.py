"""Text → typed values, read the way PostgreSQL's input functions read them."""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from pgingest.convert import ConvertContext, convert_batch, convert_column
from pgingest.convert.binary import (
    numeric_from_binary,
    numeric_to_binary,
    parse_array_literal,
)
from pgingest.load.catalog import read_table
from pgingest.load.server_input import ServerInput
from pgingest.naming import TableName
from pgingest.types import PgType, TargetColumn

CTX = ConvertContext(timezone="Europe/Berlin")


def _type(name: str, receive: str, typmod: int = -1, oid: int = 0) -> PgType:
    return PgType(oid=oid, name=name, receive=receive, typmod=typmod)


def _numeric(precision: int, scale: int) -> PgType:
    return _type(f"numeric({precision},{scale})", "numeric_recv", ((precision << 16) | scale) + 4)


def _convert(values: list[str | None], pg_type: PgType) -> list[object]:
    return convert_column(pa.array(values, pa.string()), pg_type, CTX).to_pylist()


def _read(
    db: psycopg.Connection[Any], values: list[str | None], type_name: str
) -> tuple[list[object], dict[int, str]]:
    """Convert with the server reading the odd values: (values, {row: reason})."""
    pg_type = _catalog_type(db, type_name)
    column = TargetColumn("v", pg_type)
    batch = pa.record_batch({"v": pa.array(values, pa.string())})
    result = convert_batch(batch, [column], CTX, server=ServerInput(db))
    kept = result.kept_rows.to_pylist() if result.kept_rows is not None else range(len(values))
    out: list[object] = [None] * len(values)
    for row, value in zip(kept, result.batch.column(0).to_pylist(), strict=True):
        out[row] = value
    return out, {b.row: b.reason for b in result.bad}


def _catalog_type(db: psycopg.Connection[Any], type_name: str) -> PgType:
    db.execute(sql.SQL("CREATE TABLE probe (v {})").format(sql.SQL(type_name)))  # type: ignore[arg-type]
    table = read_table(db, TableName("public", "probe"))
    assert table is not None
    db.execute("DROP TABLE probe")
    return table.columns[0].type


def test_canonical_integers_need_no_server_and_odd_ones_are_never_guessed() -> None:
    assert _convert(["5", "-7", None, "0042"], _type("integer", "int4recv")) == [5, -7, None, 42]
    for odd in ["0xFFFF", "+42", " 5 ", "40000", "1.5"]:
        with pytest.raises(ValueError, match="needs PostgreSQL's own reading"):
            _convert([odd], _type("smallint", "int2recv"))


def test_a_hex_integer_is_odd_wherever_it_stands_and_a_slice_reads_its_own_values() -> None:
    """The x of 0x is looked for in the array's bytes at once: a slice whose neighbour
    holds one, or an X in any case, in any row, still reads exactly as value by value."""
    smallint = _type("smallint", "int2recv")
    texts = ["1", "0x1F", "2", "3", "0X10", "4"]
    whole = pa.array(texts, pa.string())
    assert convert_column(whole.slice(2, 2), smallint, CTX).to_pylist() == [2, 3]
    assert convert_column(whole.slice(5, 1), smallint, CTX).to_pylist() == [4]
    for row in (1, 4):
        with pytest.raises(ValueError, match="needs PostgreSQL's own reading"):
            convert_column(whole.slice(row, 1), smallint, CTX)
    large = pa.array(["7", "0xA"], pa.large_string())
    assert convert_column(large.slice(0, 1), smallint, CTX).to_pylist() == [7]
    with pytest.raises(ValueError, match="needs PostgreSQL's own reading"):
        convert_column(large, smallint, CTX)


def test_the_server_reads_what_the_fast_path_cannot(db: psycopg.Connection[Any]) -> None:
    values, bad = _read(db, ["+42", " 5 ", "0xFFFF", "40000", "7"], "smallint")
    assert values == [42, 5, None, None, 7]
    assert sorted(bad) == [2, 3]
    assert "out of range" in bad[3]


def test_booleans_accept_what_boolin_accepts(db: psycopg.Connection[Any]) -> None:
    values = ["t", "TRUE", " yes ", "On", "1", "f", "False", "no", "OFF", "0", None]
    expected = [True] * 5 + [False] * 5 + [None]
    assert _read(db, values, "boolean") == (expected, {})
    assert list(_read(db, ["maybe"], "boolean")[1]) == [0]


def test_numeric_rounds_half_away_from_zero_like_postgres(db: psycopg.Connection[Any]) -> None:
    assert _convert(["1.005", "-1.005", "7", None], _numeric(12, 2)) == [
        Decimal("1.01"),
        Decimal("-1.01"),
        Decimal("7.00"),
        None,
    ]
    values, bad = _read(db, ["2.5e-1", "123456", "NaN"], "numeric(5,2)")
    assert "overflow" in bad[1]
    # NaN has no decimal128 form: the batch's column travels in numeric_send's format
    assert [str(numeric_from_binary(v)) for v in values if isinstance(v, bytes)] == ["0.25", "NaN"]
    assert _read(db, ["2.5e-1"], "numeric(5,2)") == ([Decimal("0.25")], {})


def test_unconstrained_numeric_keeps_each_values_scale() -> None:
    result = _convert(["43.0", "1.5", "2", None], _type("numeric", "numeric_recv"))
    assert [None if v is None else numeric_from_binary(v) for v in result] == [
        Decimal("43.0"),
        Decimal("1.5"),
        Decimal("2"),
        None,
    ]
    same_scale = _convert(["0.25", "1.50"], _type("numeric", "numeric_recv"))
    assert same_scale == [Decimal("0.25"), Decimal("1.50")]  # decimal128, vectorised


def test_timestamptz_offsets_and_zoneless_values_use_the_server_zone() -> None:
    result = _convert(
        [
            "2024-01-01 10:00:00+02",
            "2024-07-01T10:00:00Z",
            "2024-01-01 10:00:00",
            "2024-01-02",
            None,
        ],
        _type("timestamp with time zone", "timestamptz_recv"),
    )
    utc = dt.UTC
    assert [v.astimezone(utc) if v else v for v in result] == [
        dt.datetime(2024, 1, 1, 8, tzinfo=utc),
        dt.datetime(2024, 7, 1, 10, tzinfo=utc),
        dt.datetime(2024, 1, 1, 9, tzinfo=utc),  # Berlin is UTC+1 in winter
        dt.datetime(2024, 1, 1, 23, tzinfo=utc),
        None,
    ]


def test_timestamp_without_zone_ignores_an_offset(db: psycopg.Connection[Any]) -> None:
    result, _ = _read(db, ["2024-01-01 10:00:00+05", "2024-01-01 10:00:00.123456"], "timestamp")
    assert result == [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 10, 0, 0, 123456)]


def test_time_and_date() -> None:
    assert _convert(["13:45:00", "01:02:03.5"], _type("time", "time_recv")) == [
        dt.time(13, 45),
        dt.time(1, 2, 3, 500000),
    ]
    assert _convert(["2024-02-29"], _type("date", "date_recv")) == [dt.date(2024, 2, 29)]


def test_uuid_forms(db: psycopg.Connection[Any]) -> None:
    value = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    forms = [str(value), str(value).upper(), "{" + str(value) + "}", value.hex, None]
    assert _read(db, forms, "uuid") == ([value.bytes] * 4 + [None], {})
    assert list(_read(db, ["not-a-uuid", "{" + str(value)], "uuid")[1]) == [0, 1]


@pytest.mark.parametrize(
    ("text", "micros", "days", "months"),
    [
        ("1 year 2 mons 3 days 04:05:06.5", 14_706_500_000, 3, 14),
        ("-1 days +02:03:00", 7_380_000_000, -1, 0),
        ("@ 3 hours ago", -10_800_000_000, 0, 0),
        ("P1Y2M3DT4H5M6S", 14_706_000_000, 3, 14),
        ("1.5 months", 0, 15, 1),
        ("90 minutes", 5_400_000_000, 0, 0),
        ("10", 10_000_000, 0, 0),
    ],
)
def test_interval_text_is_read_by_the_server(
    db: psycopg.Connection[Any], text: str, micros: int, days: int, months: int
) -> None:
    values, bad = _read(db, [text], "interval")
    assert bad == {}
    assert isinstance(values[0], bytes)
    assert struct.unpack(">qii", values[0]) == (micros, days, months)


def test_array_literals() -> None:
    assert parse_array_literal('{1,2,NULL," a, b ","q\\"x"}') == ["1", "2", None, " a, b ", 'q"x']
    assert parse_array_literal("{}") == []
    with pytest.raises(ValueError, match="one-dimensional"):
        parse_array_literal("{{1},{2}}")


def test_bytea_hex_and_escape(db: psycopg.Connection[Any]) -> None:
    result, _ = _read(db, ["\\x0001ff", "ab\\\\c\\001"], "bytea")
    assert result == [b"\x00\x01\xff", b"ab\\c\x01"]


def test_convert_batch_finds_bad_rows_and_keeps_the_rest(db: psycopg.Connection[Any]) -> None:
    column = TargetColumn("n", _catalog_type(db, "integer"))
    batch = pa.record_batch({"n": pa.array(["1", "x", "3", "y", "5"])})
    result = convert_batch(batch, [column], CTX, server=ServerInput(db))
    assert [b.row for b in result.bad] == [1, 3]
    assert [b.value for b in result.bad] == ["x", "y"]
    assert result.batch.column(0).to_pylist() == [1, 3, 5]
    assert result.kept_rows is not None
    assert result.kept_rows.to_pylist() == [0, 2, 4]


def test_a_wide_value_never_rejects_its_neighbours(db: psycopg.Connection[Any]) -> None:
    column = TargetColumn("n", _catalog_type(db, "numeric"))
    wide = "1" * 40 + ".5"
    values = ["0.1234567890123456789", wide, "x"] + ["1"] * 3000
    result = convert_batch(
        pa.record_batch({"n": pa.array(values)}), [column], CTX, server=ServerInput(db)
    )
    assert [b.row for b in result.bad] == [2]
    loaded = result.batch.column(0).to_pylist()
    assert numeric_from_binary(loaded[1]) == Decimal(wide)


def test_a_double_that_vanishes_in_real_is_out_of_range() -> None:
    real = _type("real", "float4recv", oid=700)
    assert convert_column(pa.array([1.5, 0.0, None]), real, CTX).to_pylist() == [1.5, 0.0, None]
    with pytest.raises(ValueError, match="out of range for type real"):
        convert_column(pa.array([1e-50]), real, CTX)


@given(st.decimals(allow_nan=True, allow_infinity=True).filter(lambda d: not d.is_snan()))
def test_numeric_send_format_round_trips(value: Decimal) -> None:
    decoded = numeric_from_binary(numeric_to_binary(value))
    if value.is_nan():
        assert decoded.is_nan()
    elif value.is_infinite():
        assert decoded == value
    else:
        assert decoded == value
        assert decoded.as_tuple().exponent == min(0, int(value.as_tuple().exponent))
