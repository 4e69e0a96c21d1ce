"""Conversion of parsed columns to the exact Arrow types of their target columns.

``convert_batch`` converts a whole record batch vectorised; when a value
cannot be converted it finds the bad rows by bisection (O(k log n) attempts
for k bad rows in n), returns them, and converts the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.arrays import build_arrays, split_simple_literals
from pgingest.convert.arrow import cast_typed
from pgingest.convert.server import (
    ServerReader,
    ServerValue,
    comparable_view,
    merge_server_values,
    read_odd_values,
)
from pgingest.convert.text import cast_or_refuse, read_text, unconstrained_numeric
from pgingest.types import Kind, PgType, TargetColumn, arrow_type_for, kind_of

__all__ = [
    "BadValue",
    "ColumnTypeError",
    "ConvertContext",
    "ConvertedBatch",
    "ServerReader",
    "ServerValue",
    "convert_batch",
    "convert_column",
    "rule_view",
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


@dataclass(frozen=True)
class _Column:
    """A converted column and the rows whose value could not be converted, with why."""

    array: pa.Array
    bad: dict[int, str]


def convert_column(
    array: pa.Array | pa.ChunkedArray,
    pg_type: PgType,
    ctx: ConvertContext,
    *,
    server: ServerReader | None = None,
) -> pa.Array:
    """One column → the Arrow type of ``pg_type``. Raises ValueError on a bad value.

    Texts that are not in a canonical form are read by ``server`` (PostgreSQL's
    own input functions); without one they are bad values.
    """
    column = _convert(_normalise(array), pg_type, ctx, server)
    if column.bad:
        raise ValueError(column.bad[min(column.bad)])
    return column.array


def _convert(
    array: pa.Array, pg_type: PgType, ctx: ConvertContext, server: ServerReader | None
) -> _Column:
    kind = kind_of(pg_type)
    bad: dict[int, str] = {}
    if ctx.binary_is_text and pa.types.is_binary(array.type):
        array, refused = cast_or_refuse(array, pa.string())
        bad = {int(row): _INVALID_UTF8 for row in np.flatnonzero(refused)}
    if pa.types.is_null(array.type):
        return _Column(pa.nulls(len(array), _output_type(pg_type, kind)), bad)
    if kind is Kind.ARRAY:
        column = _convert_array_column(array, pg_type, ctx, server)
    elif _is_text(array.type):
        column = _convert_text(array, pg_type, kind, ctx, server)
    else:
        result = cast_typed(array, pg_type, kind, timezone=ctx.timezone)
        if kind in (Kind.FLOAT32, Kind.FLOAT64):
            _check_float_range(array, result, pg_type, from_text=ctx.floats_from_text)
        column = _Column(result, {})
    return _Column(column.array, {**column.bad, **bad})


_INVALID_UTF8 = "invalid UTF-8 (set the source's csv.encoding)"


def _convert_text(
    array: pa.Array, pg_type: PgType, kind: Kind, ctx: ConvertContext, server: ServerReader | None
) -> _Column:
    """Canonical texts vectorised; the others read by the server, its refusals bad values."""
    read = read_text(array, pg_type, kind, timezone=ctx.timezone)
    values = read.values
    if kind is Kind.NUMERIC and pg_type.numeric_precision_scale is None:
        values = unconstrained_numeric(values, has_odd=read.has_odd, pg_type=pg_type)
    if not read.has_odd:
        return _Column(values, {})
    rows, answers = read_odd_values(array, read.odd, pg_type, server)
    bad = {
        int(row): _server_reason(answer, pg_type)
        for row, answer in zip(rows.tolist(), answers, strict=True)
        if answer.is_error
    }
    merged = merge_server_values(values, rows, [a.data for a in answers], pg_type)
    return _Column(merged, bad)


def _server_reason(answer: ServerValue, pg_type: PgType) -> str:
    message = answer.message or f"invalid input for type {pg_type.name}"
    return message.strip().splitlines()[0]


def _check_float_range(
    source: pa.Array, result: pa.Array, pg_type: PgType, *, from_text: bool
) -> None:
    """An infinity that came from text, or from a finite value too big for real, is an error;
    so is a non-zero value that became 0 (float4in rejects 1e-50 as out of range)."""
    if not pa.types.is_floating(result.type):
        return
    if pa.types.is_floating(source.type) or pa.types.is_integer(source.type):
        vanished = pc.and_(pc.equal(result, 0), pc.not_equal(source, 0))
        if pc.any(pc.fill_null(vanished, False)).as_py():
            value = source.filter(pc.fill_null(vanished, False))[0].as_py()
            raise ValueError(f"value {value!r} is out of range for type {pg_type.name}")
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


def _output_type(pg_type: PgType, kind: Kind) -> pa.DataType:
    if kind is Kind.NUMERIC:
        return arrow_type_for(pg_type, numeric_scale=0)
    return arrow_type_for(pg_type)


def _convert_array_column(
    array: pa.Array, pg_type: PgType, ctx: ConvertContext, server: ServerReader | None
) -> _Column:
    """Simple literals split here, the others read whole by array_in; lists element-wise."""
    bad: dict[int, str] = {}

    def elements(values: pa.Array, element: PgType) -> pa.Array:
        column = _convert(values, element, ctx, server)
        if column.bad:
            parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
            for index, reason in column.bad.items():
                bad.setdefault(int(parents[index]), reason)
        return column.array

    element = pg_type.element
    assert element is not None
    if not _is_text(array.type):
        lists = array
        return _Column(build_arrays(lists, pg_type, elements), bad)
    lists, odd = split_simple_literals(array, element, timezone=ctx.timezone)
    built = build_arrays(lists, pg_type, elements)
    if not odd.any():
        return _Column(built, bad)
    rows, answers = read_odd_values(array, odd, pg_type, server)
    bad.update(
        (int(row), _server_reason(answer, pg_type))
        for row, answer in zip(rows.tolist(), answers, strict=True)
        if answer.is_error
    )
    return _Column(merge_server_values(built, rows, [a.data for a in answers], pg_type), bad)


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


def _convert_batch_column(
    source: pa.Array,
    column: TargetColumn,
    ctx: ConvertContext,
    server: ServerReader | None,
    limit: int | None,
) -> _Column:
    """One column of a batch, its bad rows found (by bisection for typed sources)."""

    def convert(part: pa.Array) -> _Column:
        return _convert(part, column.type, ctx, server)

    try:
        return convert(source)
    except DATA_ERRORS as exc:
        whole_reason = _reason(exc)
    except (TypeError, pa.ArrowNotImplementedError) as exc:
        raise ColumnTypeError(column.name, _reason(exc)) from exc
    found = _find_bad_rows(source, lambda part: convert(part).array, limit)
    if not found and limit == 0:
        found = [(0, whole_reason)]  # the caller only asks whether the batch converts
    elif not found:
        # It fails as a whole but in no part: set every row aside with the
        # reason rather than send it unconverted.
        found = [
            (row, f"{whole_reason} (with the other values of its batch)")
            for row in range(len(source))
        ]
    rows = np.zeros(len(source), dtype=bool)
    rows[[row for row, _ in found]] = True
    if limit == 0 or rows.all():
        return _Column(pa.nulls(len(source), _output_type(column.type, column.kind)), dict(found))
    kept = convert(pc.if_else(pa.array(rows), pa.scalar(None, source.type), source))
    return _Column(kept.array, {**kept.bad, **dict(found)})


def convert_batch(
    batch: pa.RecordBatch,
    columns: Sequence[TargetColumn],
    ctx: ConvertContext,
    *,
    limit: int | None = None,
    server: ServerReader | None = None,
    nulled: Collection[str] = (),
) -> ConvertedBatch:
    """Convert every column of ``batch`` (matched by position to ``columns``).

    Bad values are found and returned; the returned batch holds the other rows.
    ``limit`` stops the search for bad rows early (the caller will fail anyway).
    ``server`` reads the values not in a canonical form (see convert/text.py).
    A bad value in a column named in ``nulled`` keeps its row, with NULL in its
    place (the caller keeps the value elsewhere: the rescued column); only bad
    values in the other columns drop their rows.
    """
    arrays: list[pa.Array] = []
    bad: list[BadValue] = []
    for index, column in enumerate(columns):
        source = _normalise(batch.column(index))
        converted = _convert_batch_column(source, column, ctx, server, limit)
        if column.name in nulled:
            converted = _null_too_long(converted, column)
        arrays.append(converted.array)
        bad.extend(
            BadValue(
                row,
                column.name,
                _value_text(source, row, binary_is_text=ctx.binary_is_text),
                reason,
            )
            for row, reason in sorted(converted.bad.items())
        )
        if limit == 0 and bad:
            break  # the caller only asks whether the batch converts
    if not bad:
        return ConvertedBatch(_make_batch(arrays, columns), None, [])
    if (limit is not None and len(bad) >= max(limit, 1)) or len(arrays) < len(columns):
        empty = [a.slice(0, 0) for a in arrays]
        empty += [pa.nulls(0, _output_type(c.type, c.kind)) for c in columns[len(arrays) :]]
        return ConvertedBatch(_make_batch(empty, columns), pa.array([], pa.int64()), bad)
    rows = np.zeros(batch.num_rows, dtype=bool)
    rows[[b.row for b in bad if b.column not in nulled]] = True
    if not rows.any():
        return ConvertedBatch(_make_batch(arrays, columns), None, bad)
    keep = pa.array(np.flatnonzero(~rows), pa.int64())
    return ConvertedBatch(_make_batch([a.take(keep) for a in arrays], columns), keep, bad)


# Types whose length limit PostgreSQL checks on input (varchar(n), char(n)): typmod is n + 4.
_LENGTH_LIMITED = {"varcharrecv": "character varying", "bpcharrecv": "character"}
_TYPMOD_HEADER = 4


def _null_too_long(column: _Column, target: TargetColumn) -> _Column:
    """Texts longer than varchar(n)/char(n) allows, as bad values (NULL in their place).

    Done here only for rescued columns: otherwise the server's refusal at COPY
    rejects the row, as it always has. Like PostgreSQL, excess characters that
    are all spaces are not an error (the server cuts them off).
    """
    type_name = _LENGTH_LIMITED.get(target.type.receive)
    array = column.array
    if type_name is None or target.type.typmod < _TYPMOD_HEADER or not _is_text(array.type):
        return column
    limit = target.type.typmod - _TYPMOD_HEADER
    lengths = pc.utf8_length(pc.utf8_rtrim(array, characters=" "))
    too_long = pc.fill_null(pc.greater(lengths, limit), False).to_numpy(zero_copy_only=False)
    if not too_long.any():
        return column
    reason = f"value too long for type {type_name}({limit})"
    bad = {int(row): reason for row in np.flatnonzero(too_long)}
    nulled = pc.if_else(pa.array(too_long), pa.scalar(None, array.type), array)
    return _Column(nulled, {**column.bad, **bad})


def _make_batch(arrays: list[pa.Array], columns: Sequence[TargetColumn]) -> pa.RecordBatch:
    fields = [pa.field(c.name, a.type) for c, a in zip(columns, arrays, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def rule_view(batch: pa.RecordBatch, columns: Sequence[TargetColumn]) -> pa.RecordBatch:
    """The converted batch as rules must see it: raw columns decoded (convert/server.py)."""
    arrays = [
        comparable_view(batch.column(index), column.type) for index, column in enumerate(columns)
    ]
    return _make_batch(arrays, columns)
