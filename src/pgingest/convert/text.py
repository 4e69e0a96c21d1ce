"""Text values → typed Arrow arrays, for the spellings pgingest can prove PostgreSQL reads alike.

Used for every value that arrives as text: CSV fields, JSON strings, string
columns of Parquet files. Each reader converts vectorised only the values in
a *canonical* form — one whose meaning is certain: plain decimal integers
short enough that no range check is needed, ISO dates and timestamps with at
most six fractional digits and a four-digit year, zone-less timestamps at an
instant with no daylight-saving transition in the server's zone, ... — and
marks every other value *odd*. Odd values are read by the server's own input
function (load/server_input.py), so their result, or their error, is exactly
COPY's. A reader never guesses: when in doubt a value is odd.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.binary import (
    numeric_to_binary,
    parse_bytea_texts,
    parse_canonical_uuids,
    parse_uuids,
)
from pgingest.convert.shapes import Shape, uniform_matrix
from pgingest.types import MAX_DECIMAL128_PRECISION, Kind, PgType, arrow_type_for

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "TextRead",
    "cast_or_refuse",
    "numeric_scale_needed",
    "parse_numeric",
    "read_text",
    "unconstrained_numeric",
]

# boolin accepts these (case-insensitive, trimmed): unique prefixes of true/false/yes/no,
# on/off (at least two letters), 1 and 0.
BOOLEAN_TRUE = ["t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"]
BOOLEAN_FALSE = ["f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"]

# Canonical spellings (RE2, matched against the whole value; no whitespace, no '+').
_INTEGER = r"^-?\d+$"  # the cast then refuses what is out of range
_INTEGER_KINDS = (Kind.INT16, Kind.INT32, Kind.INT64)
_DECIMAL = r"^-?(?:\d+\.?\d*|\.\d+)$"
_FLOAT = r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,3})?$"
_INFINITE = r"(?i)^\s*[+-]?inf(inity)?\s*$"
_NONZERO_DIGIT = r"^[^eE]*[1-9]"  # a mantissa that is not zero
# Years 0001-9999 (0000 is an error, five digits and BC need the server).
_YEAR = r"(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})"
_DATE = _YEAR + r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_ZONE = r"(?:Z|[+-](?:0\d|1[0-5])(?::?[0-5]\d)?)"
_TIMESTAMP = r"^" + _DATE + r"(?:[ T]" + _CLOCK + r")?$"
_TIMESTAMP_ZONED = r"^" + _DATE + r"[ T]" + _CLOCK + _ZONE + r"$"
# Years whose daylight-saving transitions the zone files list one by one; later
# ones follow a rule Arrow's time zone code does not apply (2038-04-01 in New York).
_ZONE_RULE_YEARS = r"(?:19\d\d|20[0-2]\d|203[0-7])"
_TIMESTAMP_RULED = r"^" + _ZONE_RULE_YEARS + _DATE[len(_YEAR) :] + r"(?:[ T]" + _CLOCK + r")?$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# bytea: hex format without spaces, or text without a backslash (read as its bytes).
_BYTEA = r"^(?:\\x(?:[0-9a-fA-F]{2})*|[^\\]*)$"


# The same canonical forms as fixed-width templates (convert/shapes.py), for whole batches.
_DATE_SHAPE = "9999-19-39"
_CLOCK_SHAPES = ["29:59", "29:59:59", *("29:59:59." + "9" * digits for digits in range(1, 7))]
_TIME_SHAPES = [Shape(clock) for clock in _CLOCK_SHAPES]
_DATE_SHAPES = [Shape(_DATE_SHAPE)]
_LOCAL_SHAPES = [Shape(_DATE_SHAPE), *(Shape(_DATE_SHAPE + "T" + c) for c in _CLOCK_SHAPES)]
_ZONED_SHAPES = [
    Shape(_DATE_SHAPE + "T" + clock + zone)
    for clock in _CLOCK_SHAPES
    for zone in ("Z", "±19", "±1959", "±19:59")
]
_ZONE_RULE_RANGE = (1901, 2037)  # the years _ZONE_RULE_YEARS spells
_MAX_OFFSET_HOURS = 15  # PostgreSQL's limit on a zone displacement


def _digits(matrix: np.ndarray, start: int, count: int) -> np.ndarray:
    value = np.zeros(len(matrix), dtype=np.int64)
    for position in range(start, start + count):
        value = value * 10 + (matrix[:, position].astype(np.int64) - ord("0"))
    return value


def _uniform(array: pa.Array, shapes: list[Shape], *, years: tuple[int, int] = (1, 9999)) -> bool:
    """Whether every value has one of ``shapes`` (years and offsets within range)."""
    matrix = uniform_matrix(array)
    if matrix is None:
        return False
    shape = next((s for s in shapes if s.width == matrix.shape[1] and s.matches(matrix)), None)
    if shape is None:
        return False
    if shape.template.startswith("9999"):
        year = _digits(matrix, 0, 4)
        if not ((year >= years[0]) & (year <= years[1])).all():
            return False
    sign = shape.sign_position()
    return sign is None or bool((_digits(matrix, sign + 1, 2) <= _MAX_OFFSET_HOURS).all())


def _read_shaped(
    array: pa.Array, shapes: list[Shape], pattern: str, target: pa.DataType
) -> TextRead:
    """A uniform batch checked in place, any other value by value."""
    if _uniform(array, shapes):
        values, refused = cast_or_refuse(array, target)
        return TextRead(values, refused)
    return _read_pattern(array, pattern, target)


@dataclass(frozen=True)
class TextRead:
    """Values read vectorised (odd ones null) and which values are odd."""

    values: pa.Array
    odd: np.ndarray  # bool per value: the server must read it

    @property
    def has_odd(self) -> bool:
        """Whether any value needs the server."""
        return bool(self.odd.any())


def _mask(array: pa.Array, pattern: str) -> np.ndarray:
    """True where a non-null value matches ``pattern``."""
    matched = pc.fill_null(pc.match_substring_regex(array, pattern), False)
    return np.asarray(matched.to_numpy(zero_copy_only=False), dtype=bool)


def _valid(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)


def arrow_mask(mask: np.ndarray) -> pa.Array:
    """A numpy bool mask as an Arrow boolean array (bit-packed directly: pa.array is slow)."""
    bits = pa.py_buffer(np.packbits(mask, bitorder="little"))
    return pa.BooleanArray.from_buffers(pa.bool_(), len(mask), [None, bits])


def _keep(array: pa.Array, canonical: np.ndarray) -> pa.Array:
    """The canonical values, the others null."""
    if canonical.all():
        return array
    return pc.if_else(arrow_mask(canonical), array, pa.scalar(None, array.type))


def cast_or_refuse(text: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast ``text``; values the cast refuses (Feb 30 in a canonical shape) become odd.

    Failures are found by bisection: O(k log n) casts for k refused values.
    """
    try:
        return pc.cast(text, target), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    refused = np.zeros(len(text), dtype=bool)

    def visit(start: int, length: int) -> None:
        try:
            pc.cast(text.slice(start, length), target)
        except pa.ArrowInvalid:
            if length == 1:
                refused[start] = True
                return
            half = length // 2
            visit(start, half)
            visit(start + half, length - half)

    visit(0, len(text))
    return pc.cast(_keep(text, ~refused), target), refused


def _read_pattern(
    array: pa.Array, pattern: str, target: pa.DataType, *, canonical: np.ndarray | None = None
) -> TextRead:
    valid = _valid(array)
    matched = _mask(array, pattern) if canonical is None else canonical
    values, refused = cast_or_refuse(_keep(array, matched), target)
    odd = (valid & ~matched) | refused
    return TextRead(values, odd)


def _holds_no_byte_of(array: pa.Array, letters: bytes) -> bool:
    """Whether no value of a string array can hold any of ``letters`` (one scan of its bytes).

    The data buffer holds every value's bytes end to end (and, for a slice, its
    neighbours'): none of the letters in it means none in any value. False only
    means "look value by value".
    """
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return False
    data = array.buffers()[2]
    if data is None:
        return True
    raw = data.to_pybytes()  # a copy at memory speed; ``in`` then runs memchr
    return not any(letters[i : i + 1] in raw for i in range(len(letters)))


def _any_holds(array: pa.Array, texts: tuple[str, ...]) -> bool:
    return any(pc.any(pc.match_substring(array, text)).as_py() for text in texts)


def _read_integers(array: pa.Array, target: pa.DataType) -> TextRead:
    """Decimal integers in range. Arrow's cast also reads hex (0xFFFF into smallint is
    -1), so a value with an x is odd; the cast refuses the rest of what int2in/int4in/
    int8in would read differently (a sign, spaces, out of range), making them odd too."""
    if _holds_no_byte_of(array, b"xX") or not _any_holds(array, ("x", "X")):
        try:
            return TextRead(pc.cast(array, target), np.zeros(len(array), dtype=bool))
        except pa.ArrowInvalid:
            pass
    return _read_pattern(array, _INTEGER, target)


def _read_floats(array: pa.Array, target: pa.DataType) -> TextRead:
    """Floats as float4in/float8in read them; an underflow to 0 or overflow to ∞ is odd.

    Arrow's cast reads what strtod reads (signs, spaces, inf, NaN) to the same
    value, so it runs first; only a batch it refuses is matched value by value.
    """
    try:
        read = TextRead(pc.cast(array, target), np.zeros(len(array), dtype=bool))
    except pa.ArrowInvalid:
        read = _read_pattern(array, _FLOAT, target)
    zero = pc.fill_null(pc.equal(read.values, 0), False)
    lost = pc.and_(zero, pc.fill_null(pc.match_substring_regex(array, _NONZERO_DIGIT), False))
    spelled_infinite = pc.fill_null(pc.match_substring_regex(array, _INFINITE), False)
    infinite = pc.and_(pc.fill_null(pc.is_inf(read.values), False), pc.invert(spelled_infinite))
    out_of_range = np.asarray(pc.or_(lost, infinite).to_numpy(zero_copy_only=False), dtype=bool)
    if not out_of_range.any():
        return read
    return TextRead(_keep(read.values, ~out_of_range), read.odd | out_of_range)


_BOOLEAN_SPELLINGS = pa.array(
    BOOLEAN_TRUE + BOOLEAN_FALSE + [w.upper() for w in BOOLEAN_TRUE + BOOLEAN_FALSE]
)
_TRUE_SPELLINGS = pa.array(BOOLEAN_TRUE + [w.upper() for w in BOOLEAN_TRUE])


def _read_booleans(array: pa.Array) -> TextRead:
    """Lower or upper case spellings boolin reads; any other (spaces, True) is odd."""
    canonical = np.asarray(
        pc.is_in(array, value_set=_BOOLEAN_SPELLINGS).to_numpy(zero_copy_only=False), dtype=bool
    )
    values = pc.is_in(array, value_set=_TRUE_SPELLINGS)
    values = pc.if_else(pc.is_valid(array), values, pa.scalar(None, pa.bool_()))
    return TextRead(_keep(values, canonical), _valid(array) & ~canonical)


@functools.cache
def is_known_zone(timezone: str) -> bool:
    """Whether both Arrow and Python know ``timezone`` (the server's TimeZone setting)."""
    try:
        zoneinfo.ZoneInfo(timezone)
        pc.assume_timezone(pa.array([0], pa.timestamp("us")), timezone=timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, pa.ArrowInvalid):
        return False
    return True


def _read_timestamptz(array: pa.Array, timezone: str) -> TextRead:
    """Explicit offsets are exact; a zone-less time is exact unless a transition makes it
    ambiguous or skipped in ``timezone`` (then the server decides, as COPY would)."""
    target = pa.timestamp("us", tz="UTC")
    if _uniform(array, _ZONED_SHAPES):  # the common case: every value has its offset
        values, refused = cast_or_refuse(array, target)
        return TextRead(values, refused)
    valid = _valid(array)
    if _uniform(array, _LOCAL_SHAPES, years=_ZONE_RULE_RANGE):
        local_canonical = valid
        zoned = np.zeros(len(array), dtype=bool)
    else:
        zoned = _mask(array, _TIMESTAMP_ZONED)
        local_canonical = _mask(array, _TIMESTAMP_RULED)
    if not is_known_zone(timezone):  # the server reads every zone-less time
        local_canonical = np.zeros(len(array), dtype=bool)
        timezone = "UTC"  # for the arithmetic below; no value read with it is kept
    local = _read_pattern(array, _TIMESTAMP, pa.timestamp("us"), canonical=local_canonical)
    early = pc.assume_timezone(
        local.values, timezone=timezone, ambiguous="earliest", nonexistent="earliest"
    )
    late = pc.assume_timezone(
        local.values, timezone=timezone, ambiguous="latest", nonexistent="latest"
    )
    unsure = np.asarray(
        pc.fill_null(pc.not_equal(early, late), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    if not zoned.any():
        odd = local.odd | unsure
        return TextRead(_keep(early.cast(target), ~odd), odd)
    with_offset = _read_pattern(array, _TIMESTAMP_ZONED, target, canonical=zoned)
    odd = np.where(local_canonical, local.odd | unsure, with_offset.odd)
    values = pc.if_else(arrow_mask(zoned), with_offset.values, early.cast(target))
    return TextRead(_keep(values, ~odd), odd & valid)


def _read_times(array: pa.Array) -> TextRead:
    valid = _valid(array)
    canonical = valid if _uniform(array, _TIME_SHAPES) else _mask(array, "^" + _CLOCK + "$")
    text = pc.binary_join_element_wise("1970-01-01 ", _keep(array, canonical), "")
    stamps, refused = cast_or_refuse(text, pa.timestamp("us"))
    return TextRead(pc.cast(stamps, pa.time64("us")), (valid & ~canonical) | refused)


def _read_uuids(array: pa.Array) -> TextRead:
    every = parse_canonical_uuids(array)  # the 8-4-4-4-12 form, checked in place
    if every is not None:
        return TextRead(every, np.zeros(len(array), dtype=bool))
    canonical = _mask(array, _UUID)
    return TextRead(parse_uuids(_keep(array, canonical)), _valid(array) & ~canonical)


def _read_bytea(array: pa.Array) -> TextRead:
    canonical = _mask(array, _BYTEA)
    return TextRead(parse_bytea_texts(_keep(array, canonical)), _valid(array) & ~canonical)


def read_text(array: pa.Array, pg_type: PgType, kind: Kind, *, timezone: str) -> TextRead:
    """Text → the column's Arrow type for canonical values; the rest marked odd."""
    if kind in (Kind.TEXT, Kind.JSON, Kind.JSONB):
        return TextRead(array, np.zeros(len(array), dtype=bool))  # the server checks these
    if kind in _INTEGER_KINDS:
        return _read_integers(array, arrow_type_for(pg_type))
    if kind in (Kind.FLOAT32, Kind.FLOAT64):
        return _read_floats(array, arrow_type_for(pg_type))
    if kind is Kind.NUMERIC:
        return _read_numeric(array, pg_type)
    if kind is Kind.BOOL:
        return _read_booleans(array)
    if kind is Kind.DATE:
        return _read_shaped(array, _DATE_SHAPES, "^" + _DATE + "$", pa.date32())
    if kind is Kind.TIME:
        return _read_times(array)
    if kind is Kind.TIMESTAMP:
        return _read_shaped(array, _LOCAL_SHAPES, _TIMESTAMP, pa.timestamp("us"))
    if kind is Kind.TIMESTAMPTZ:
        return _read_timestamptz(array, timezone)
    if kind is Kind.UUID:
        return _read_uuids(array)
    if kind is Kind.BYTEA:
        return _read_bytea(array)
    if kind is Kind.INTERVAL:  # IntervalStyle and units: always the server's reading
        return TextRead(pa.nulls(len(array), pa.binary(16)), _valid(array))
    raise TypeError(f"text cannot be read as {pg_type.name} here")


# --- numeric -----------------------------------------------------------------------------

_NUMBER = r"^\s*[+-]?\d*(?:\.(?P<fraction>\d*))?(?:[eE](?P<exponent>[+-]?\d+))?\s*$"


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


def _digit_counts(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(leading zeros, other integer digits, fractional digits) of decimal texts; 0 for null."""
    parts = pc.extract_regex(array, r"^-?(?P<zeros>0*)(?P<whole>\d*)\.?(?P<fraction>\d*)$")

    def lengths(name: str) -> np.ndarray:
        counts = pc.fill_null(pc.utf8_length(parts.field(name)), 0)
        return np.asarray(counts.to_numpy(zero_copy_only=False))

    return lengths("zeros"), lengths("whole"), lengths("fraction")


def _read_numeric(array: pa.Array, pg_type: PgType) -> TextRead:
    """Plain decimals within 38 digits, rounded half away from zero as numeric_in does.

    An unconstrained numeric keeps each value's own scale: a batch whose values
    disagree on it is read as text here and encoded value by value
    (convert/binary.py, numeric_send's format) by the caller.
    """
    valid = _valid(array)
    canonical = _mask(array, _DECIMAL)
    zeros, whole, fraction = _digit_counts(_keep(array, canonical))
    canonical &= zeros + whole + fraction <= MAX_DECIMAL128_PRECISION
    constrained = pg_type.numeric_precision_scale
    if constrained is None:
        return TextRead(_keep(array, canonical), valid & ~canonical)
    precision, scale = constrained
    # After rounding to `scale` a value may gain an integer digit (9.995 → 10.00):
    # leave one digit of room, and let the server judge values at the edge.
    canonical &= whole <= precision - scale - 1
    text = _keep(array, canonical)
    needed = int(fraction[canonical].max()) if canonical.any() else 0
    parsed = pc.cast(text, pa.decimal128(MAX_DECIMAL128_PRECISION, max(scale, needed)))
    if needed > scale:
        parsed = pc.round(parsed, ndigits=scale, round_mode="half_towards_infinity")
    return TextRead(pc.cast(parsed, pa.decimal128(precision, scale)), valid & ~canonical)


def parse_numeric(array: pa.Array, pg_type: PgType) -> pa.Array:
    """numeric text → decimal128 (for typed sources); raises ValueError on an odd value."""
    read = _read_numeric(array, pg_type)
    if read.has_odd:
        value = array.filter(pa.array(read.odd))[0].as_py()
        raise ValueError(f"invalid input syntax for type {pg_type.name}: {value!r}")
    if pg_type.numeric_precision_scale is not None:
        return read.values
    scale = min(numeric_scale_needed(read.values), MAX_DECIMAL128_PRECISION)
    return pc.cast(read.values, arrow_type_for(pg_type, numeric_scale=scale))


def unconstrained_numeric(texts: pa.Array, *, has_odd: bool, pg_type: PgType) -> pa.Array:
    """Canonical texts of an unconstrained numeric, each keeping its own scale.

    When every value has the same number of fractional digits (and the server
    reads none of them), decimal128 of that scale says it exactly; otherwise
    each distinct value is encoded in numeric_send's format, scale included
    (43.0 stays 43.0 next to 1.5 and 2).
    """
    _, _, fraction = _digit_counts(texts)
    scales = np.unique(fraction[_valid(texts)])
    if not has_odd and len(scales) <= 1:
        scale = int(scales[0]) if len(scales) else 0
        return pc.cast(texts, arrow_type_for(pg_type, numeric_scale=scale))
    encoded = pc.dictionary_encode(texts)
    dictionary = [numeric_to_binary(Decimal(t)) for t in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(dictionary, pa.binary()), encoded.indices)
