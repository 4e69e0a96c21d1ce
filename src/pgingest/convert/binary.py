"""Values whose binary COPY format pgingest builds itself: uuid, interval, bytea, numeric, arrays.

uuid and interval travel as 16 raw bytes through pgpq's bytea encoder (which
writes a value as-is); arrays whose element type pgpq cannot label are
assembled in array_recv's format here. Formats: PostgreSQL's
src/backend/utils/adt/{uuid.c, timestamp.c (interval_recv), arrayfuncs.c
(array_recv)}.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "array_values_to_binary",
    "durations_to_intervals",
    "numeric_from_binary",
    "numeric_to_binary",
    "parse_array_literal",
    "parse_bytea_texts",
    "parse_canonical_uuids",
    "parse_uuids",
    "split_array_binary",
    "split_binary_copy",
]

UUID_HEX_DIGITS = 32

# hex digit → value, 255 for anything else
_HEX_VALUES = np.full(256, 255, dtype=np.uint8)
for _index, _char in enumerate(b"0123456789abcdef"):
    _HEX_VALUES[_char] = _index
for _index, _char in enumerate(b"ABCDEF"):
    _HEX_VALUES[_char] = _index + 10


# Positions of the 32 hex digits in the canonical 8-4-4-4-12 form.
_CANONICAL_HEX = np.array([i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.int64)
_CANONICAL_LENGTH = 36


def _string_parts(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data bytes) of a string array, without copying."""
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4
    )
    data_buffer = array.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    return offsets, data


def _pack_uuids(nibbles: np.ndarray, rows: np.ndarray, count: int, array: pa.Array) -> pa.Array:
    packed = np.zeros((count, 16), dtype=np.uint8)
    packed[rows] = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16),
        count,
        [validity, pa.py_buffer(packed.tobytes())],
        null_count=array.null_count,
    )


_DASHES = np.array([8, 13, 18, 23])


def parse_canonical_uuids(array: pa.Array) -> pa.Array | None:
    """The common 8-4-4-4-12 form, read in place; None if any value has another form.

    When every value is 36 bytes (a NULL takes none), the values' bytes lie end
    to end and are viewed as a (rows, 36) matrix without copying: picking the
    32 hex columns and looking them up is all the work.
    """
    offsets, data = _string_parts(array)
    valid = (
        np.ones(len(array), dtype=bool)
        if array.null_count == 0
        else pc.is_valid(array).to_numpy(zero_copy_only=False)
    )
    rows = np.flatnonzero(valid)
    first, last = int(offsets[0]), int(offsets[-1])
    if last - first != len(rows) * _CANONICAL_LENGTH:
        return None
    if not np.all(np.diff(offsets)[valid] == _CANONICAL_LENGTH):
        return None
    matrix = data[first:last].reshape(len(rows), _CANONICAL_LENGTH)
    if not np.all(matrix[:, _DASHES] == ord("-")):
        return None
    nibbles = _HEX_VALUES[matrix[:, _CANONICAL_HEX]]
    if np.any(nibbles == 255):
        return None
    return _pack_uuids(nibbles, rows, len(array), array)


def parse_uuids(array: pa.Array) -> pa.Array:
    """uuid text (any case, with or without hyphens or braces) → 16-byte binary, vectorised."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    fast = parse_canonical_uuids(array)
    if fast is not None:
        return fast
    text = pc.replace_substring(array, "-", "")
    text = pc.utf8_trim(pc.utf8_trim(text, "{"), "}") if _has_brace(text) else text
    lengths = pc.binary_length(text)
    wrong_length = pc.fill_null(pc.not_equal(lengths, UUID_HEX_DIGITS), False)
    if pc.any(wrong_length).as_py():
        raise ValueError(f"invalid input syntax for type uuid: {_first(array, wrong_length)!r}")
    offsets, data = _string_parts(text)
    valid = pc.is_valid(text).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(valid)
    starts = offsets[:-1][rows].astype(np.int64)
    nibbles = _HEX_VALUES[data[starts[:, None] + np.arange(UUID_HEX_DIGITS)]]
    bad = np.any(nibbles == 255, axis=1)
    if bad.any():
        value = array[int(rows[np.argmax(bad)])].as_py()
        raise ValueError(f"invalid input syntax for type uuid: {value!r}")
    return _pack_uuids(nibbles, rows, len(array), array)


def _has_brace(text: pa.Array) -> bool:
    return bool(pc.any(pc.fill_null(pc.starts_with(text, "{"), False)).as_py())


def _first(array: pa.Array, mask: pa.Array) -> object:
    return array.filter(mask)[0].as_py()


# --- interval --------------------------------------------------------------------------

# interval_recv reads microseconds, days, months. Interval texts are always read by
# the server (IntervalStyle, units, fractions spilling into days): see convert/text.py.
# Arrow durations are plain microseconds.


def durations_to_intervals(array: pa.Array) -> pa.Array:
    """Arrow durations → 16-byte intervals (microseconds only, no days or months)."""
    micros = pc.cast(array, pa.duration("us")).cast(pa.int64())
    values = np.zeros(len(micros), dtype=[("us", ">i8"), ("days", ">i4"), ("months", ">i4")])
    values["us"] = micros.fill_null(0).to_numpy(zero_copy_only=False)
    validity = None if micros.null_count == 0 else pc.is_valid(micros).buffers()[1]
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16),
        len(values),
        [validity, pa.py_buffer(values.tobytes())],
        null_count=micros.null_count,
    )


# --- bytea -------------------------------------------------------------------------------

_OCTAL = re.compile(rb"\\([0-3][0-7]{2})|\\\\")


def _parse_bytea(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    raw = text.encode("utf-8")
    if b"\\" not in raw:
        return raw

    def unescape(match: re.Match[bytes]) -> bytes:
        octal = match.group(1)
        return bytes([int(octal, 8)]) if octal else b"\\"

    result = _OCTAL.sub(unescape, raw)
    if _OCTAL.sub(b"", raw).count(b"\\"):
        raise ValueError("invalid input syntax for type bytea")
    return result


def parse_bytea_texts(array: pa.Array) -> pa.Array:
    """bytea text (``\\x`` hex or escape format, as COPY reads it) → binary."""
    values: list[bytes | None] = []
    for text in array.to_pylist():
        if text is None:
            values.append(None)
            continue
        try:
            values.append(_parse_bytea(text))
        except ValueError:
            raise ValueError(f"invalid input syntax for type bytea: {text!r}") from None
    return pa.array(values, pa.binary())


# --- arrays ------------------------------------------------------------------------------


_ARRAY_SPACE = " \t\n\r\v\f"  # scanner_isspace: what array_in skips


def parse_array_literal(text: str) -> list[str | None]:
    """A one-dimensional array literal → its element texts, exactly as array_in splits it.

    Quoted elements and backslash escapes keep every character (``{a\\,b}`` is the
    one element ``a,b``; ``{\\NULL}`` the text ``NULL``); an unquoted, unescaped
    ``NULL`` is NULL; unescaped whitespace around an unquoted element is dropped.
    Dimensions (``[0:1]=``) and nested arrays raise ValueError, as does anything
    array_in would refuse.
    """
    value = text.strip(_ARRAY_SPACE)
    if len(value) < 2 or value[0] != "{" or value[-1] != "}":
        raise ValueError(f"malformed array literal: {text!r}")
    body = value[1:-1]
    if not body.strip(_ARRAY_SPACE):
        return []
    elements: list[str | None] = []
    position = 0
    while True:
        element, position = _array_element(body, position, text)
        elements.append(element)
        if position == len(body):
            return elements
        position += 1  # the comma


def _array_element(body: str, position: int, text: str) -> tuple[str | None, int]:
    """One element starting at ``position``; returns it and the index of the comma or end."""
    while position < len(body) and body[position] in _ARRAY_SPACE:
        position += 1
    chars: list[str] = []
    quoted: bool | None = False  # None once the closing quote is read
    escaped = False
    keep = 0  # characters that trailing-space trimming must not remove
    if position < len(body) and body[position] == '"':
        quoted, position = True, position + 1
    while position < len(body):
        char = body[position]
        if char == "\\":
            if position + 1 >= len(body):
                break
            chars.append(body[position + 1])
            escaped, keep, position = True, len(chars), position + 2
            continue
        if quoted and char == '"':
            quoted = None  # closed
            keep = len(chars)
            position += 1
            break
        if not quoted and char in ',"{}':
            break
        chars.append(char)
        position += 1
        if quoted:
            keep = len(chars)
    if quoted:
        raise ValueError(f"malformed array literal: {text!r}")
    if quoted is None or escaped:
        while position < len(body) and body[position] in _ARRAY_SPACE:
            position += 1
    if position < len(body) and body[position] != ",":
        if body[position] == "{":
            raise ValueError(f"only one-dimensional arrays are supported: {text!r}")
        raise ValueError(f"malformed array literal: {text!r}")
    element = "".join(chars)
    if quoted is None:
        return element, position
    trimmed = element[:keep] + element[keep:].rstrip(_ARRAY_SPACE)
    if not trimmed:
        raise ValueError(f"malformed array literal: {text!r}")
    if not escaped and trimmed.upper() == "NULL":
        return None, position
    return trimmed, position


_ARRAY_HEADER = struct.Struct(">iiiii")  # ndim, has_null, element oid, length, lower bound
_EMPTY_ARRAY = struct.Struct(">iii")
_LENGTH = struct.Struct(">i")
_NULL_ELEMENT = _LENGTH.pack(-1)


def array_values_to_binary(
    lists: pa.Array, element_oid: int, encode_elements: Callable[[pa.Array], Sequence[bytes | None]]
) -> pa.Array:
    """Arrow lists → array_recv values, one per row, given each element's binary encoding."""
    flat = encode_elements(lists.flatten())
    offsets = lists.offsets.to_numpy(zero_copy_only=False) - lists.offsets[0].as_py()
    validity = lists.is_valid().to_numpy(zero_copy_only=False)
    values: list[bytes | None] = []
    for row in range(len(lists)):
        if not validity[row]:
            values.append(None)
            continue
        elements = flat[offsets[row] : offsets[row + 1]]
        if not elements:
            values.append(_EMPTY_ARRAY.pack(0, 0, element_oid))
            continue
        has_null = any(e is None for e in elements)
        parts = [_ARRAY_HEADER.pack(1, int(has_null), element_oid, len(elements), 1)]
        for element in elements:
            parts.append(_NULL_ELEMENT if element is None else _LENGTH.pack(len(element)) + element)
        values.append(b"".join(parts))
    return pa.array(values, pa.binary())


# --- numeric (numeric_send's format: each value keeps its own scale) ---------------------

_NUMERIC_HEADER = struct.Struct(">hhHH")  # ndigits, weight, sign, dscale
_NUMERIC_POSITIVE, _NUMERIC_NEGATIVE = 0x0000, 0x4000
_NUMERIC_NAN, _NUMERIC_PINF, _NUMERIC_NINF = 0xC000, 0xD000, 0xF000
_NUMERIC_BASE_DIGITS = 4  # numeric stores base-10000 digits


def numeric_to_binary(value: Decimal) -> bytes:
    """A Decimal in numeric_send's format, with the value's own scale (``1.50`` keeps two)."""
    if value.is_nan():
        return _NUMERIC_HEADER.pack(0, 0, _NUMERIC_NAN, 0)
    if value.is_infinite():
        return _NUMERIC_HEADER.pack(0, 0, _NUMERIC_NINF if value < 0 else _NUMERIC_PINF, 0)
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    dscale = max(0, -exponent)
    if exponent >= 0:
        whole, fraction = digits + "0" * exponent, ""
    else:
        whole, fraction = digits[:exponent], digits[exponent:].rjust(-exponent, "0")
    whole = whole.lstrip("0")
    whole = whole.rjust(-(-len(whole) // _NUMERIC_BASE_DIGITS) * _NUMERIC_BASE_DIGITS, "0")
    fraction = fraction.ljust(-(-len(fraction) // _NUMERIC_BASE_DIGITS) * _NUMERIC_BASE_DIGITS, "0")
    groups = [int(whole[i : i + 4]) for i in range(0, len(whole), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        return _NUMERIC_HEADER.pack(0, 0, _NUMERIC_POSITIVE, dscale)
    header = _NUMERIC_HEADER.pack(
        len(groups), weight, _NUMERIC_NEGATIVE if sign else _NUMERIC_POSITIVE, dscale
    )
    return header + struct.pack(f">{len(groups)}h", *groups)


def numeric_from_binary(data: bytes) -> Decimal:
    """numeric_send's format → Decimal (NaN and ±Infinity included)."""
    count, weight, sign, dscale = _NUMERIC_HEADER.unpack_from(data)
    if sign == _NUMERIC_NAN:
        return Decimal("NaN")
    if sign in (_NUMERIC_PINF, _NUMERIC_NINF):
        return Decimal("-Infinity" if sign == _NUMERIC_NINF else "Infinity")
    groups = struct.unpack_from(f">{count}h", data, _NUMERIC_HEADER.size)
    digits = "".join(f"{g:04d}" for g in groups) or "0"
    exponent = (weight + 1 - count) * _NUMERIC_BASE_DIGITS
    with localcontext() as context:
        # exact: room for every digit of the value at its display scale
        context.prec = len(digits) + abs(exponent) + dscale + _NUMERIC_BASE_DIGITS
        unscaled = Decimal(f"{'-' if sign == _NUMERIC_NEGATIVE else ''}{digits}").scaleb(exponent)
        return unscaled.quantize(Decimal(1).scaleb(-dscale))


# --- a column's values one by one, as the server's send functions write them -----------

_COPY_HEADER_BYTES = 19  # signature (11), flags (4), header extension length (4)
_FIELD_COUNT = struct.Struct(">h")


def _length_prefixed(
    data: bytes, position: int, count: int, *, skip: int = 0
) -> list[bytes | None]:
    """``count`` values each written as an int32 length (-1: NULL) and its bytes, from
    ``position`` on; ``skip`` bytes stand before each length (a COPY row's field count)."""
    values: list[bytes | None] = []
    for _ in range(count):
        position += skip
        (length,) = _LENGTH.unpack_from(data, position)
        position += _LENGTH.size
        if length < 0:
            values.append(None)
            continue
        values.append(data[position : position + length])
        position += length
    return values


def split_binary_copy(data: bytes, rows: int) -> list[bytes | None]:
    """The values of a one-column binary COPY stream (pgpq's output), one per row."""
    return _length_prefixed(data, _COPY_HEADER_BYTES, rows, skip=_FIELD_COUNT.size)


def split_array_binary(data: bytes) -> list[bytes | None]:
    """The elements of a one-dimensional array in array_send's format (an empty one: [])."""
    (dimensions,) = _LENGTH.unpack_from(data, 0)
    if dimensions == 0:
        return []
    (count,) = _LENGTH.unpack_from(data, 12)
    return _length_prefixed(data, _ARRAY_HEADER.size, count)
