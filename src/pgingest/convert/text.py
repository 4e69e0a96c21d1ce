"""Text values → typed Arrow arrays, read the way PostgreSQL's input functions read them.

Used for every value that arrives as text: CSV fields in careful mode, JSON
scalars, string columns of Parquet files. Vectorised with pyarrow.compute;
only interval, bytea and array literals go value by value (distinct values once).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.binary import parse_bytea_texts, parse_intervals, parse_uuids
from pgingest.types import MAX_DECIMAL128_PRECISION, Kind, PgType, arrow_type_for

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "numeric_scale_needed",
    "parse_booleans",
    "parse_numeric",
    "parse_text",
    "parse_timestamps",
]

# boolin accepts these (case-insensitive, trimmed): unique prefixes of true/false/yes/no,
# on/off (at least two letters), 1 and 0.
BOOLEAN_TRUE = ["t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"]
BOOLEAN_FALSE = ["f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"]

# A zone offset after a time of day (so the "-02" of a bare date is not one).
_CLOCK = r"(\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d*)?)?)"
_OFFSET = _CLOCK + r"\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_NUMBER = r"^\s*[+-]?\d*(?:\.(?P<fraction>\d*))?(?:[eE](?P<exponent>[+-]?\d+))?\s*$"


def _trim(array: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(array)


def _fail_first(array: pa.Array, mask: pa.Array, type_name: str) -> None:
    mask = pc.fill_null(mask, False)
    if pc.any(mask).as_py():
        value = array.filter(mask)[0].as_py()
        raise ValueError(f"invalid input syntax for type {type_name}: {value!r}")


def parse_booleans(array: pa.Array) -> pa.Array:
    """boolean text: t/true/yes/on/1 and f/false/no/off/0, any case, unique prefixes."""
    text = pc.utf8_lower(_trim(array))
    is_true = pc.is_in(text, value_set=pa.array(BOOLEAN_TRUE))
    is_false = pc.is_in(text, value_set=pa.array(BOOLEAN_FALSE))
    _fail_first(array, pc.and_(pc.is_valid(array), pc.invert(pc.or_(is_true, is_false))), "boolean")
    return pc.if_else(pc.is_valid(array), is_true, pa.scalar(None, pa.bool_()))


def numeric_scale_needed(array: pa.Array) -> int:
    """The largest number of fractional digits among decimal texts (exponents counted)."""
    parts = pc.extract_regex(array, _NUMBER)
    fraction = pc.fill_null(pc.utf8_length(parts.field("fraction")), 0)
    exponent_text = pc.fill_null(parts.field("exponent"), "")
    exponent_text = pc.if_else(pc.equal(exponent_text, ""), "0", exponent_text)
    exponent = pc.cast(exponent_text, pa.int32())
    needed = pc.max_element_wise(pc.subtract(fraction, exponent), 0)
    top = pc.max(needed).as_py()
    return int(top or 0)


def parse_numeric(array: pa.Array, pg_type: PgType) -> pa.Array:
    """numeric text → decimal128, rounded half away from zero to the column's scale."""
    text = _trim(array)
    _fail_first(array, pc.invert(pc.match_substring_regex(text, _NUMBER)), pg_type.name)
    needed = numeric_scale_needed(text)
    constrained = pg_type.numeric_precision_scale
    target = arrow_type_for(pg_type, numeric_scale=min(needed, MAX_DECIMAL128_PRECISION))
    scale = target.scale
    parsed = pc.cast(text, pa.decimal128(MAX_DECIMAL128_PRECISION, max(scale, needed)))
    if needed > scale:
        parsed = pc.round(parsed, ndigits=scale, round_mode="half_towards_infinity")
    if constrained is None and needed > MAX_DECIMAL128_PRECISION:
        raise ValueError(f"numeric value has more than {MAX_DECIMAL128_PRECISION} digits")
    try:
        return pc.cast(parsed, target)
    except pa.ArrowInvalid:
        raise ValueError(f"numeric field overflow: a value does not fit {pg_type.name}") from None


def parse_timestamps(array: pa.Array, *, with_zone: bool, timezone: str) -> pa.Array:
    """ISO 8601 timestamps → microseconds; zone-less values in a timestamptz take ``timezone``.

    A zone offset on a ``timestamp`` (without time zone) column is ignored, as
    PostgreSQL ignores it.
    """
    target = pa.timestamp("us", tz="UTC") if with_zone else pa.timestamp("us")
    try:  # the common case: ISO 8601 with (or, for timestamp, without) an offset
        return pc.cast(array, target)
    except pa.ArrowInvalid:
        pass
    text = pc.replace_substring_regex(_trim(array), r"\s*(?:UTC|GMT)$", "+00")
    has_offset = pc.fill_null(pc.match_substring_regex(text, _OFFSET), False)
    if not with_zone:
        naive = pc.replace_substring_regex(text, _OFFSET, r"\1")
        return pc.cast(naive, pa.timestamp("us"))
    if pc.all(has_offset).as_py():
        return pc.cast(text, pa.timestamp("us", tz="UTC"))
    naive_text = pc.if_else(has_offset, pa.scalar(None, pa.string()), text)
    local = pc.assume_timezone(
        pc.cast(naive_text, pa.timestamp("us")),
        timezone=timezone,
        ambiguous="earliest",
        nonexistent="earliest",
    ).cast(pa.timestamp("us", tz="UTC"))
    if not pc.any(has_offset).as_py():
        return local
    zoned_text = pc.if_else(has_offset, text, pa.scalar(None, pa.string()))
    zoned = pc.cast(zoned_text, pa.timestamp("us", tz="UTC"))
    return pc.if_else(has_offset, zoned, local)


def _parse_times(array: pa.Array) -> pa.Array:
    text = pc.binary_join_element_wise("1970-01-01 ", _trim(array), "")
    return pc.cast(pc.cast(text, pa.timestamp("us")), pa.time64("us"))


_INFINITE_TEXT = r"(?i)^\s*[+-]?(inf|infinity)\s*$"
_ZERO_TEXT = r"^\s*[+-]?0*\.?0*([eE][+-]?\d+)?\s*$"


def _parse_floats(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Floats as float4in/float8in read them: out of range is an error, not ∞ or 0."""
    text = _trim(array)
    result = pc.cast(text, target)
    infinite = pc.and_(pc.is_inf(result), pc.invert(pc.match_substring_regex(text, _INFINITE_TEXT)))
    underflow = pc.and_(pc.equal(result, 0), pc.invert(pc.match_substring_regex(text, _ZERO_TEXT)))
    out_of_range = pc.fill_null(pc.or_(infinite, underflow), False)
    if pc.any(out_of_range).as_py():
        value = array.filter(out_of_range)[0].as_py()
        type_name = "real" if pa.types.is_float32(target) else "double precision"
        raise ValueError(f"value {value.strip()!r} is out of range for type {type_name}")
    return result


_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")


def parse_text(array: pa.Array, pg_type: PgType, kind: Kind, *, timezone: str) -> pa.Array:
    """Text → the column's Arrow type. Raises ValueError or ArrowInvalid on a bad value.

    A single value that fails is explained as PostgreSQL would say it (bad rows
    are found by converting ever smaller slices, down to one value).
    """
    try:
        return _parse_text(array, pg_type, kind, timezone=timezone)
    except pa.ArrowInvalid:
        if len(array) != 1 or not array.is_valid()[0].as_py():
            raise
        value = array[0].as_py()
        if kind in (Kind.INT16, Kind.INT32, Kind.INT64) and _INTEGER_TEXT.fullmatch(value):
            raise ValueError(
                f"value {value.strip()!r} is out of range for type {pg_type.name}"
            ) from None
        raise ValueError(f"invalid input syntax for type {pg_type.name}: {value!r}") from None


def _parse_text(array: pa.Array, pg_type: PgType, kind: Kind, *, timezone: str) -> pa.Array:
    if kind in (Kind.TEXT, Kind.JSON, Kind.JSONB):
        return array
    if kind in (Kind.INT16, Kind.INT32, Kind.INT64):
        return pc.cast(_trim(array), arrow_type_for(pg_type))
    if kind in (Kind.FLOAT32, Kind.FLOAT64):
        return _parse_floats(array, arrow_type_for(pg_type))
    if kind is Kind.NUMERIC:
        return parse_numeric(array, pg_type)
    if kind is Kind.BOOL:
        return parse_booleans(array)
    if kind is Kind.DATE:
        return pc.cast(_trim(array), pa.date32())
    if kind is Kind.TIME:
        return _parse_times(array)
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return parse_timestamps(array, with_zone=kind is Kind.TIMESTAMPTZ, timezone=timezone)
    if kind is Kind.UUID:
        return parse_uuids(_trim(array))
    if kind is Kind.INTERVAL:
        return parse_intervals(array)
    if kind is Kind.BYTEA:
        return parse_bytea_texts(array)
    raise TypeError(f"text cannot be read as {pg_type.name} here")
