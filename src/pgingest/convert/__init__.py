"""Conversion of parsed columns to the exact Arrow types of their target columns.

``convert_batch`` converts a whole record batch vectorised; when a value
cannot be converted it finds the bad rows by bisection (O(k log n) attempts
for k bad rows in n), returns them, and converts the rest.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.arrow import cast_typed
from pgingest.convert.binary import array_values_to_binary, parse_array_literal
from pgingest.convert.text import parse_text
from pgingest.types import Kind, PgType, TargetColumn, arrow_type_for, kind_of, uses_native_list

__all__ = [
    "BadValue",
    "ColumnTypeError",
    "ConvertContext",
    "ConvertedBatch",
    "convert_batch",
    "convert_column",
]

# Errors that mean "this value is bad" (not "this column can never convert").
DATA_ERRORS = (pa.ArrowInvalid, ValueError, OverflowError, UnicodeDecodeError)


@dataclass(frozen=True)
class ConvertContext:
    """What conversion needs to know: the server's time zone, and what binary values mean."""

    timezone: str = "UTC"
    binary_is_text: bool = False  # careful CSV reads hand over undecoded UTF-8 bytes
    # Fast CSV/JSON reads parse numbers in the reader, where an out-of-range
    # float becomes ±infinity unnoticed: such a batch is read again as text.
    floats_from_text: bool = False


@dataclass(frozen=True)
class BadValue:
    """A value that could not be converted: its row in the batch, column, text and reason."""

    row: int
    column: str
    value: str | None
    reason: str


@dataclass(frozen=True)
class ConvertedBatch:
    """A batch converted to target types, with the rows that could not be converted."""

    batch: pa.RecordBatch
    kept_rows: pa.Array | None  # input row of each output row; None when no row was dropped
    bad: list[BadValue]


class ColumnTypeError(TypeError):
    """A whole column cannot be converted (its type, not one value, is the problem)."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _is_text(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )


def _normalise(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = array.cast(pa.string())
    if pa.types.is_null(array.type):
        return array
    return array


def convert_column(
    array: pa.Array | pa.ChunkedArray, pg_type: PgType, ctx: ConvertContext
) -> pa.Array:
    """One column → the Arrow type of ``pg_type``. Raises a DATA_ERRORS error on a bad value."""
    array = _normalise(array)
    kind = kind_of(pg_type)
    if ctx.binary_is_text and pa.types.is_binary(array.type):
        array = _decode_utf8(array)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), _output_type(pg_type, kind))
    if kind is Kind.ARRAY:
        return _convert_array_column(array, pg_type, ctx)
    if _is_text(array.type):
        result = parse_text(array, pg_type, kind, timezone=ctx.timezone)
    else:
        result = cast_typed(array, pg_type, kind, timezone=ctx.timezone)
        if kind in (Kind.FLOAT32, Kind.FLOAT64):
            _check_float_range(array, result, pg_type, from_text=ctx.floats_from_text)
    return result


def _check_float_range(
    source: pa.Array, result: pa.Array, pg_type: PgType, *, from_text: bool
) -> None:
    """An infinity that came from text, or from a finite value too big for real, is an error."""
    if not pa.types.is_floating(result.type):
        return
    infinite = pc.fill_null(pc.is_inf(result), False)
    if not pc.any(infinite).as_py():
        return
    if from_text:
        raise ValueError("a number was read as infinity: reading its text again")
    if pa.types.is_floating(source.type):
        grew = pc.and_(infinite, pc.invert(pc.fill_null(pc.is_inf(source), False)))
        if pc.any(grew).as_py():
            value = source.filter(grew)[0].as_py()
            raise ValueError(f"value {value!r} is out of range for type {pg_type.name}")


def _decode_utf8(array: pa.Array) -> pa.Array:
    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid:
        raise ValueError("invalid UTF-8 (set the source's csv.encoding)") from None


def _output_type(pg_type: PgType, kind: Kind) -> pa.DataType:
    if kind is Kind.NUMERIC:
        return arrow_type_for(pg_type, numeric_scale=0)
    return arrow_type_for(pg_type)


def _convert_array_column(array: pa.Array, pg_type: PgType, ctx: ConvertContext) -> pa.Array:
    element = pg_type.element
    assert element is not None
    if _is_text(array.type):
        literals = [None if v is None else parse_array_literal(v) for v in array.to_pylist()]
        array = pa.array(literals, pa.list_(pa.string()))
    if pa.types.is_large_list(array.type) or pa.types.is_fixed_size_list(array.type):
        array = array.cast(pa.list_(array.type.value_type))
    if not pa.types.is_list(array.type):
        raise TypeError(f"cannot convert {array.type} to {pg_type.name}")
    values = convert_column(array.flatten(), element, ctx)
    offsets = pc.subtract(array.offsets, array.offsets[0])
    mask = pc.is_null(array)
    lists = pa.ListArray.from_arrays(offsets, values, mask=mask if array.null_count else None)
    if uses_native_list(pg_type):
        return lists
    return array_values_to_binary(lists, element.oid, lambda flat: _element_bytes(flat, element))


_PG_EPOCH_DAYS = 10_957  # 2000-01-01 minus 1970-01-01
_PG_EPOCH_MICROS = _PG_EPOCH_DAYS * 86_400_000_000
_PACKERS: dict[Kind, Callable[..., bytes]] = {
    Kind.INT16: struct.Struct(">h").pack,
    Kind.INT32: struct.Struct(">i").pack,
    Kind.INT64: struct.Struct(">q").pack,
    Kind.FLOAT32: struct.Struct(">f").pack,
    Kind.FLOAT64: struct.Struct(">d").pack,
    Kind.BOOL: struct.Struct(">?").pack,
}


def _element_bytes(values: pa.Array, element: PgType) -> Sequence[bytes | None]:
    """Each element's binary format, for arrays assembled by pgingest."""
    kind = kind_of(element)
    if kind in (Kind.TEXT, Kind.JSON):
        return [None if v is None else v.encode("utf-8") for v in values.to_pylist()]
    if kind is Kind.JSONB:
        return [None if v is None else b"\x01" + v.encode("utf-8") for v in values.to_pylist()]
    if kind in (Kind.UUID, Kind.INTERVAL, Kind.BYTEA):
        return list(values.to_pylist())
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        micros = pc.cast(values, pa.int64()).to_pylist()
        pack = _PACKERS[Kind.INT64]
        return [None if v is None else pack(v - _PG_EPOCH_MICROS) for v in micros]
    if kind is Kind.DATE:
        days = pc.cast(values, pa.int32()).to_pylist()
        pack = _PACKERS[Kind.INT32]
        return [None if v is None else pack(v - _PG_EPOCH_DAYS) for v in days]
    packer = _PACKERS.get(kind)
    if packer is None:
        raise TypeError(f"arrays of {element.name} are not supported")
    return [None if v is None else packer(v) for v in values.to_pylist()]


def _find_bad_rows(
    array: pa.Array, convert: Callable[[pa.Array], pa.Array], limit: int | None
) -> list[tuple[int, str]]:
    """Rows whose value fails to convert, by bisection: O(k log n) conversions."""
    bad: list[tuple[int, str]] = []

    def visit(start: int, length: int) -> None:
        if limit is not None and len(bad) >= limit:
            return
        try:
            convert(array.slice(start, length))
        except DATA_ERRORS as exc:
            if length == 1:
                bad.append((start, _reason(exc)))
                return
            half = length // 2
            visit(start, half)
            visit(start + half, length - half)

    visit(0, len(array))
    return bad


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _value_text(array: pa.Array, row: int, *, binary_is_text: bool) -> str | None:
    try:
        value = array[row].as_py()
    except (ValueError, OverflowError, TypeError):  # e.g. nanoseconds Python cannot hold
        try:
            return str(array[row])
        except (ValueError, OverflowError):  # a year Python's datetime cannot hold
            return str(array.slice(row, 1).cast(pa.string())[0])
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") if binary_is_text else value.hex()
    return str(value)


def _column_bad_values(
    batch: pa.RecordBatch,
    columns: Sequence[TargetColumn],
    ctx: ConvertContext,
    *,
    limit: int | None,
) -> tuple[list[pa.Array], list[BadValue]]:
    """Each column converted, and the values that would not convert."""
    arrays: list[pa.Array] = []
    bad: list[BadValue] = []
    for index, column in enumerate(columns):
        source = _normalise(batch.column(index))

        def convert(part: pa.Array, pg_type: PgType = column.type) -> pa.Array:
            return convert_column(part, pg_type, ctx)

        try:
            arrays.append(convert(source))
            continue
        except DATA_ERRORS as exc:
            whole_reason = _reason(exc)
        except (TypeError, pa.ArrowNotImplementedError) as exc:
            raise ColumnTypeError(column.name, _reason(exc)) from exc
        found = _find_bad_rows(source, convert, limit)
        if not found and limit == 0:
            found = [(0, whole_reason)]  # the caller only asks whether the batch converts
        elif not found:
            # It fails as a whole but in no part: the conversion depends on the
            # batch (an unconstrained numeric's common scale). Set every row
            # aside with the reason rather than send it unconverted.
            found = [
                (row, f"{whole_reason} (with the other values of its batch)")
                for row in range(len(source))
            ]
        bad.extend(
            BadValue(
                row,
                column.name,
                _value_text(source, row, binary_is_text=ctx.binary_is_text),
                reason,
            )
            for row, reason in found
        )
        arrays.append(source)
    return arrays, bad


def convert_batch(
    batch: pa.RecordBatch,
    columns: Sequence[TargetColumn],
    ctx: ConvertContext,
    *,
    limit: int | None = None,
) -> ConvertedBatch:
    """Convert every column of ``batch`` (matched by position to ``columns``).

    Bad values are found and returned; the returned batch holds the other rows.
    ``limit`` stops the search for bad rows early (the caller will fail anyway).
    """
    kept: pa.Array | None = None
    bad: list[BadValue] = []
    current = batch
    while True:
        # Every pass that finds nothing returns; every other sets rows aside, so this ends.
        arrays, found = _column_bad_values(current, columns, ctx, limit=limit)
        if not found:
            return ConvertedBatch(_make_batch(arrays, columns), kept, bad)
        # Rows are numbered in the input batch, whatever was set aside before.
        bad.extend(
            found
            if kept is None
            else [BadValue(kept[b.row].as_py(), b.column, b.value, b.reason) for b in found]
        )
        if limit is not None and len(bad) >= max(limit, 1):
            # The caller fails (or starts over carefully) anyway: stop looking.
            arrays, _ = _column_bad_values(current.slice(0, 0), columns, ctx, limit=limit)
            return ConvertedBatch(_make_batch(arrays, columns), pa.array([], pa.int64()), bad)
        rows = np.zeros(current.num_rows, dtype=bool)
        for item in found:
            rows[item.row] = True
        keep = pa.array(np.flatnonzero(~rows), pa.int64())
        kept = keep if kept is None else kept.take(keep)
        current = current.take(keep)


def _make_batch(arrays: list[pa.Array], columns: Sequence[TargetColumn]) -> pa.RecordBatch:
    fields = [pa.field(c.name, a.type) for c, a in zip(columns, arrays, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
