"""Column types for ``create: true``, inferred from a sample of a source's files.

Text values (CSV, and JSON strings) become bigint, numeric, double precision,
boolean, date or timestamptz only when every sampled value reads as one;
codes with leading zeros such as ``00501`` stay text. Nested JSON becomes
jsonb. Parquet's own types map one to one.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

__all__ = [
    "InferredColumn",
    "SampleColumn",
    "TypeConflictError",
    "infer_columns",
    "sql_type_for_arrow",
]

# How many records of a source are sampled to infer its columns.
SAMPLE_ROWS = 10_000
# ... from at most this many of its files.
SAMPLE_FILES = 3

INT64_MAX = 2**63 - 1

_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)\.\d+|-?\.\d+")
_FLOAT = re.compile(r"-?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+|-?(?:inf|infinity|nan)", re.IGNORECASE)
_BOOLEAN = {"true", "false", "t", "f"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SampleColumn:
    """A file column's sampled values (text and JSON files) or its declared type (Parquet)."""

    name: str
    values: Sequence[Any] = ()
    arrow_type: pa.DataType | None = None
    strings_are_text: bool = False  # JSON: a quoted "123" is a string, not a number


@dataclass(frozen=True)
class InferredColumn:
    """A column to create."""

    name: str
    sql_type: str


def _valid_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def _text_type(text: str) -> str:
    value = text.strip()
    if _INTEGER.fullmatch(value):
        return "bigint" if abs(int(value)) <= INT64_MAX else "numeric"
    if _DECIMAL.fullmatch(value):
        return "numeric"
    if _FLOAT.fullmatch(value):
        return "double precision"
    if value.lower() in _BOOLEAN:
        return "boolean"
    return _temporal_type(value)


def _temporal_type(value: str) -> str:
    if _DATE.fullmatch(value) and _valid_date(value):
        return "date"
    if _TIMESTAMP.fullmatch(value) and _valid_date(value):
        return "timestamptz"
    return "text"


def _value_type(value: Any, strings_are_text: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if abs(value) <= INT64_MAX else "numeric"
    if isinstance(value, Decimal):
        return "double precision" if "E" in str(value).upper() else "numeric"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, (dict, list)):
        return "jsonb"
    if isinstance(value, str):
        if value == "":
            return "text"
        return _temporal_type(value.strip()) if strings_are_text else _text_type(value)
    return "text"


# When values disagree, the narrowest type that holds both.
_NUMERIC_WIDENING = {
    frozenset({"bigint", "numeric"}): "numeric",
    frozenset({"bigint", "double precision"}): "double precision",
    frozenset({"numeric", "double precision"}): "double precision",
    frozenset({"date", "timestamptz"}): "timestamptz",
}


def _merge(current: str | None, found: str) -> str:
    if current is None or current == found:
        return found
    if "jsonb" in (current, found):
        return "jsonb"
    return _NUMERIC_WIDENING.get(frozenset({current, found}), "text")


def _infer_values(values: Iterable[Any], strings_are_text: bool) -> str:
    inferred: str | None = None
    for value in values:
        found = _value_type(value, strings_are_text)
        if found is None:
            continue
        inferred = _merge(inferred, found)
        if inferred == "text":
            break
    return inferred or "text"


def sql_type_for_arrow(data_type: pa.DataType) -> str:
    """The PostgreSQL type for a Parquet/Arrow column."""
    if isinstance(data_type, pa.BaseExtensionType):
        if data_type.extension_name == "arrow.uuid":
            return "uuid"
        data_type = data_type.storage_type
    if pa.types.is_dictionary(data_type):
        return sql_type_for_arrow(data_type.value_type)
    for check, sql in _ARROW_SQL:
        if check(data_type):
            return sql
    if pa.types.is_decimal(data_type):
        if data_type.precision <= 38 and data_type.scale >= 0:
            return f"numeric({data_type.precision},{data_type.scale})"
        return "numeric"
    if pa.types.is_timestamp(data_type):
        return "timestamptz" if data_type.tz is not None else "timestamp"
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        element = sql_type_for_arrow(data_type.value_type)
        return "jsonb" if element == "jsonb" else f"{element}[]"
    return "jsonb" if pa.types.is_nested(data_type) else "text"


_ARROW_SQL = [
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "smallint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_uint8, "smallint"),
    (pa.types.is_int32, "integer"),
    (pa.types.is_uint16, "integer"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_uint32, "bigint"),
    (pa.types.is_uint64, "numeric(20,0)"),
    (pa.types.is_float16, "real"),
    (pa.types.is_float32, "real"),
    (pa.types.is_float64, "double precision"),
    (pa.types.is_date, "date"),
    (pa.types.is_time, "time"),
    (pa.types.is_duration, "interval"),
    (pa.types.is_string, "text"),
    (pa.types.is_large_string, "text"),
    (pa.types.is_string_view, "text"),
    (pa.types.is_binary, "bytea"),
    (pa.types.is_large_binary, "bytea"),
    (pa.types.is_fixed_size_binary, "bytea"),
    (pa.types.is_null, "text"),
]


def _compatible(first: str, second: str) -> str | None:
    """The type two files' columns share without loss, or None if they conflict."""
    if first == second:
        return first
    return _NUMERIC_WIDENING.get(frozenset({first, second}))


class TypeConflictError(ValueError):
    """Two files disagree about a column's type."""

    def __init__(self, column: str, first: tuple[str, str], second: tuple[str, str]) -> None:
        super().__init__(
            f"column {column!r} is {first[1]} in {first[0]} but {second[1]} in {second[0]}"
        )
        self.column = column
        self.first = first  # (file, type)
        self.second = second


def infer_columns(
    samples: Sequence[Sequence[SampleColumn]],
    *,
    files: Sequence[str] | None = None,
    fixed: Collection[str] = (),
    conflicts: list[TypeConflictError] | None = None,
) -> list[InferredColumn]:
    """One type per column over the samples of several files (columns in first-seen order).

    Within a file, mixed values widen (to text at worst); between files, types
    must agree up to lossless widening (bigint → numeric, date → timestamptz),
    else TypeConflictError names both files — unless the column is in ``fixed``
    (its type is set by the config). Given a ``conflicts`` list, a conflicting
    column becomes text instead (text holds every value of both files) and
    the conflict is appended to the list.
    """
    order: dict[str, None] = {}
    types: dict[str, tuple[str, str]] = {}  # column → (file it came from, type)
    widened: set[str] = set()
    for position, file_sample in enumerate(samples):
        where = files[position] if files else f"file {position + 1}"
        for column in file_sample:
            order.setdefault(column.name, None)
            if column.arrow_type is not None:
                found = sql_type_for_arrow(column.arrow_type)
            elif any(v is not None for v in column.values):
                found = _infer_values(column.values, column.strings_are_text)
            else:
                continue  # nothing but NULLs: another file may tell
            previous = types.get(column.name)
            if previous is None or column.name in fixed:
                types[column.name] = (where, found)
                continue
            if column.name in widened:
                continue
            shared = _compatible(previous[1], found)
            if shared is None:
                conflict = TypeConflictError(column.name, previous, (where, found))
                if conflicts is None:
                    raise conflict
                conflicts.append(conflict)
                widened.add(column.name)
                shared = "text"
            types[column.name] = (previous[0], shared)
    return [InferredColumn(name, types[name][1] if name in types else "text") for name in order]
