"""Text → typed values, read the way PostgreSQL's input functions read them."""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest

from pgingest.convert import ConvertContext, convert_batch, convert_column
from pgingest.convert.binary import parse_array_literal, parse_interval
from pgingest.types import PgType, TargetColumn

CTX = ConvertContext(timezone="Europe/Berlin")


def _type(name: str, receive: str, typmod: int = -1, oid: int = 0) -> PgType:
    return PgType(oid=oid, name=name, receive=receive, typmod=typmod)


def _numeric(precision: int, scale: int) -> PgType:
    return _type(f"numeric({precision},{scale})", "numeric_recv", ((precision << 16) | scale) + 4)


def _convert(values: list[str | None], pg_type: PgType) -> list[object]:
    return convert_column(pa.array(values, pa.string()), pg_type, CTX).to_pylist()


def test_integers_trim_whitespace_and_check_range() -> None:
    assert _convert([" 5 ", "-7", None], _type("integer", "int4recv")) == [5, -7, None]
    with pytest.raises(ValueError, match="'40000' is out of range for type smallint"):
        _convert(["40000"], _type("smallint", "int2recv"))
    with pytest.raises(ValueError, match=r"invalid input syntax for type integer: '1\.5'"):
        _convert(["1.5"], _type("integer", "int4recv"))


def test_booleans_accept_what_boolin_accepts() -> None:
    values = ["t", "TRUE", " yes ", "On", "1", "f", "False", "no", "OFF", "0", None]
    expected = [True] * 5 + [False] * 5 + [None]
    assert _convert(values, _type("boolean", "boolrecv")) == expected
    with pytest.raises(ValueError, match="boolean"):
        _convert(["maybe"], _type("boolean", "boolrecv"))


def test_numeric_rounds_half_away_from_zero_like_postgres() -> None:
    assert _convert(["1.005", "-1.005", "2.5e-1", "7", None], _numeric(12, 2)) == [
        Decimal("1.01"),
        Decimal("-1.01"),
        Decimal("0.25"),
        Decimal("7.00"),
        None,
    ]
    with pytest.raises(ValueError, match="overflow"):
        _convert(["123456"], _numeric(5, 2))


def test_unconstrained_numeric_keeps_every_digit() -> None:
    values = ["0.1234567890123456789", "1234567890123456789"]
    result = _convert(values, _type("numeric", "numeric_recv"))
    assert result == [Decimal(v) for v in values]
    with pytest.raises(pa.ArrowInvalid):  # 39 digits do not fit a 128-bit decimal
        _convert(
            ["0.1234567890123456789", "12345678901234567890"], _type("numeric", "numeric_recv")
        )


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


def test_timestamp_without_zone_ignores_an_offset() -> None:
    result = _convert(
        ["2024-01-01 10:00:00+05", "2024-01-01 10:00:00.123456"],
        _type("timestamp", "timestamp_recv"),
    )
    assert result == [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 10, 0, 0, 123456)]


def test_time_and_date() -> None:
    assert _convert(["13:45:00", "01:02:03.5"], _type("time", "time_recv")) == [
        dt.time(13, 45),
        dt.time(1, 2, 3, 500000),
    ]
    assert _convert(["2024-02-29"], _type("date", "date_recv")) == [dt.date(2024, 2, 29)]


def test_uuid_forms() -> None:
    value = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    forms = [str(value), str(value).upper(), "{" + str(value) + "}", value.hex, None]
    result = _convert(forms, _type("uuid", "uuid_recv"))
    assert result == [value.bytes] * 4 + [None]
    with pytest.raises(ValueError, match="uuid"):
        _convert(["not-a-uuid"], _type("uuid", "uuid_recv"))


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
def test_interval_text(text: str, micros: int, days: int, months: int) -> None:
    assert struct.unpack(">qii", parse_interval(text)) == (micros, days, months)


def test_array_literals() -> None:
    assert parse_array_literal('{1,2,NULL," a, b ","q\\"x"}') == ["1", "2", None, " a, b ", 'q"x']
    assert parse_array_literal("{}") == []
    with pytest.raises(ValueError, match="one-dimensional"):
        parse_array_literal("{{1},{2}}")


def test_bytea_hex_and_escape() -> None:
    assert _convert(["\\x0001ff", "ab\\\\c\\001"], _type("bytea", "bytearecv")) == [
        b"\x00\x01\xff",
        b"ab\\c\x01",
    ]


def test_convert_batch_finds_bad_rows_and_keeps_the_rest() -> None:
    column = TargetColumn("n", _type("integer", "int4recv"))
    batch = pa.record_batch({"n": pa.array(["1", "x", "3", "y", "5"])})
    result = convert_batch(batch, [column], CTX)
    assert [b.row for b in result.bad] == [1, 3]
    assert [b.value for b in result.bad] == ["x", "y"]
    assert result.batch.column(0).to_pylist() == [1, 3, 5]
    assert result.kept_rows is not None
    assert result.kept_rows.to_pylist() == [0, 2, 4]


def test_values_that_fail_only_together_are_set_aside_not_lost() -> None:
    column = TargetColumn("n", _type("numeric", "numeric_recv"))
    values = ["0.1234567890123456789", "12345678901234567890", "x"] + ["1"] * 3000
    result = convert_batch(pa.record_batch({"n": pa.array(values)}), [column], CTX)
    assert len(result.bad) + result.batch.num_rows == len(values)  # every row accounted for
    assert any("with the other values of its batch" in b.reason for b in result.bad)
