"""Odd values read by the server, and their results merged back into a converted column.

The reading itself is load/server_input.py's (SQL); here is the decision side:
which texts go (each distinct text once), what a refusal becomes (a bad value
naming the server's error), and how the server's send-format bytes join the
values converted vectorised. Where the column's Arrow type can hold a result
exactly (integers, floats, booleans, finite dates and timestamps, numeric of
a fixed scale, and the types that already travel as their send format) it is
decoded into it; otherwise the whole column travels *raw*: every value as its
send-format bytes through the bytea encoder, which writes them as they are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import pgpq
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.binary import numeric_from_binary, split_binary_copy
from pgingest.types import Kind, PgType, encoder_builder_for, kind_of, uses_native_list

__all__ = [
    "ServerReader",
    "ServerValue",
    "column_to_binary",
    "comparable_view",
    "is_raw",
    "merge_server_values",
    "read_odd_values",
]


@dataclass(frozen=True)
class ServerValue:
    """What the server made of one text: its send-format bytes, or its error."""

    data: bytes | None
    sqlstate: str | None = None
    message: str | None = None

    @property
    def is_error(self) -> bool:
        """Whether the server refused the text."""
        return self.sqlstate is not None


class ServerReader(Protocol):
    """Reads texts with the server's input function for ``pg_type``, in order."""

    def read_values(self, pg_type: PgType, texts: Sequence[str]) -> list[ServerValue]: ...


def read_odd_values(
    texts: pa.Array, odd: np.ndarray, pg_type: PgType, server: ServerReader | None
) -> tuple[np.ndarray, list[ServerValue]]:
    """The odd rows and the server's reading of each (every distinct text read once)."""
    rows = np.flatnonzero(odd)
    values = texts.take(pa.array(rows, pa.int64())).to_pylist()
    distinct = list(dict.fromkeys(values))
    if server is None:
        reason = f"needs PostgreSQL's own reading as {pg_type.name}"
        answers = [ServerValue(None, "22000", reason) for _ in distinct]
    else:
        answers = server.read_values(pg_type, distinct)
    by_text = dict(zip(distinct, answers, strict=True))
    return rows, [by_text[v] for v in values]


# --- decoding send-format bytes into Arrow values ------------------------------------------

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 minus 1970-01-01
_PG_EPOCH_MICROS = _PG_EPOCH_DAYS * 86_400_000_000
_MICROS_PER_DAY = 86_400_000_000
_INT32_RANGE = (-(2**31), 2**31 - 1)
_INT64_RANGE = (-(2**63), 2**63 - 1)


class _NotRepresentableError(Exception):
    """A server value the column's Arrow type cannot hold exactly (infinity, 24:00, ...)."""


def _unpack(fmt: str) -> Callable[[bytes], object]:
    packer = struct.Struct(fmt)
    return lambda data: packer.unpack(data)[0]


def _date(data: bytes) -> object:
    (days,) = struct.unpack(">i", data)
    if days in _INT32_RANGE:  # ±infinity
        raise _NotRepresentableError
    return days + _PG_EPOCH_DAYS


def _timestamp(data: bytes) -> object:
    (micros,) = struct.unpack(">q", data)
    if micros in _INT64_RANGE:  # ±infinity
        raise _NotRepresentableError
    return micros + _PG_EPOCH_MICROS


def _time(data: bytes) -> object:
    (micros,) = struct.unpack(">q", data)
    if micros >= _MICROS_PER_DAY:  # 24:00:00
        raise _NotRepresentableError
    return micros


_DECODERS: dict[Kind, Callable[[bytes], object]] = {
    Kind.INT16: _unpack(">h"),
    Kind.INT32: _unpack(">i"),
    Kind.INT64: _unpack(">q"),
    Kind.FLOAT32: _unpack(">f"),
    Kind.FLOAT64: _unpack(">d"),
    Kind.BOOL: _unpack(">?"),
    Kind.DATE: _date,
    Kind.TIME: _time,
    Kind.TIMESTAMP: _timestamp,
    Kind.TIMESTAMPTZ: _timestamp,
}


def _decoded(values: pa.Array, kind: Kind, results: list[bytes | None]) -> pa.Array:
    """The server's results as values of ``values.type`` (raises _NotRepresentableError)."""
    target = values.type
    if kind is Kind.NUMERIC:
        decimals: list[Decimal | None] = []
        for data in results:
            number = None if data is None else numeric_from_binary(data)
            if number is not None and (
                not number.is_finite() or -number.as_tuple().exponent != target.scale  # type: ignore[operator]
            ):
                raise _NotRepresentableError
            decimals.append(number)
        return pa.array(decimals, target)
    decode = _DECODERS.get(kind)
    if decode is None:
        raise _NotRepresentableError
    plain = [None if data is None else decode(data) for data in results]
    if kind in (Kind.DATE, Kind.TIME, Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        storage = pa.int32() if kind is Kind.DATE else pa.int64()
        return pa.array(plain, storage).cast(target)
    return pa.array(plain, target)


# --- merging -------------------------------------------------------------------------------


def is_raw(array: pa.Array, pg_type: PgType) -> bool:
    """Whether a converted column travels as send-format bytes rather than its own type."""
    return pa.types.is_binary(array.type) and not _travels_as_bytes(pg_type)


def column_to_binary(array: pa.Array, pg_type: PgType) -> list[bytes | None]:
    """Each value of a converted column in its send format (what binary COPY carries)."""
    if pa.types.is_binary(array.type) or pa.types.is_fixed_size_binary(array.type):
        return list(array.to_pylist())  # raw, or a type that travels as its send format
    field = pa.field("value", array.type)
    encoder = pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(
        pa.schema([field]), {"value": encoder_builder_for(field, pg_type)}
    )
    data = encoder.write_header()
    data += encoder.write_batch(pa.record_batch([array], schema=pa.schema([field])))
    data += encoder.finish()
    return split_binary_copy(bytes(data), len(array))


def _travels_as_bytes(pg_type: PgType) -> bool:
    """Types whose Arrow value already is the send format (uuid, interval, bytea, arrays)."""
    kind = kind_of(pg_type)
    return kind in (Kind.UUID, Kind.INTERVAL, Kind.BYTEA) or (
        kind is Kind.ARRAY and not uses_native_list(pg_type)
    )


def merge_server_values(
    values: pa.Array, rows: np.ndarray, results: list[bytes | None], pg_type: PgType
) -> pa.Array:
    """``values`` with ``rows`` replaced by the server's results (send-format bytes)."""
    if not len(rows):
        return values
    kind = kind_of(pg_type)
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    if _travels_as_bytes(pg_type):
        return pc.replace_with_mask(values, pa.array(mask), pa.array(results, values.type))
    if not is_raw(values, pg_type):
        try:
            replacement = _decoded(values, kind, results)
            return pc.replace_with_mask(values, pa.array(mask), replacement)
        except _NotRepresentableError:
            pass
    merged = column_to_binary(values, pg_type)
    for row, data in zip(rows.tolist(), results, strict=True):
        merged[row] = data
    return pa.array(merged, pa.binary())


# --- what rules see of a raw column ---------------------------------------------------------

_INFINITY_DAYS = 2**31 - 1 - _PG_EPOCH_DAYS  # the latest day Arrow's date32 holds


def _clamped(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def comparable_view(array: pa.Array, pg_type: PgType) -> pa.Array:
    """A raw column decoded into values rules can compare (validate.py), else as it is.

    numeric: decimal128 at the batch's largest scale when every value fits,
    otherwise float64 (NaN and ±Infinity included); an infinite date or
    timestamp: the latest or earliest value its Arrow type holds.
    """
    if not is_raw(array, pg_type):
        return array
    kind = kind_of(pg_type)
    data = array.to_pylist()
    if kind is Kind.NUMERIC:
        numbers = [None if d is None else numeric_from_binary(d) for d in data]
        finite = [n for n in numbers if n is not None and n.is_finite()]
        if len(finite) == len([n for n in numbers if n is not None]):
            scale = max((-int(n.as_tuple().exponent) for n in finite), default=0)
            digits = max((len(n.as_tuple().digits) for n in finite), default=1)
            if digits + scale <= 38:
                return pa.array(numbers, pa.decimal128(38, max(scale, 0)))
        return pa.array([None if n is None else float(n) for n in numbers], pa.float64())
    if kind is Kind.DATE:
        days = [None if d is None else struct.unpack(">i", d)[0] for d in data]
        limit = _INFINITY_DAYS
        return pa.array(
            [None if v is None else _clamped(v, -limit, limit) + _PG_EPOCH_DAYS for v in days],
            pa.int32(),
        ).cast(pa.date32())
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ, Kind.TIME):
        micros = [None if d is None else struct.unpack(">q", d)[0] for d in data]
        offset = 0 if kind is Kind.TIME else _PG_EPOCH_MICROS
        low, high = _INT64_RANGE[0] + abs(offset) + 1, _INT64_RANGE[1] - abs(offset) - 1
        values = [None if v is None else _clamped(v, low, high) + offset for v in micros]
        target = (
            pa.time64("us")
            if kind is Kind.TIME
            else pa.timestamp("us", tz="UTC" if kind is Kind.TIMESTAMPTZ else None)
        )
        return pa.array(values, pa.int64()).cast(target)
    return array
