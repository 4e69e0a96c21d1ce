"""PostgreSQL's COPY text format: backslash escapes decoded, ``\\N`` is NULL, no quoting.

This is what ``COPY t TO 'x.tsv'`` writes and what most TSV producers mean
(https://www.postgresql.org/docs/current/sql-copy.html, "Text Format").
pyarrow splits the fields (delimiter, no quote character, no escape
character) and matches the NULL marker on the raw field, as COPY does; this
module then decodes each field holding a backslash:

* ``\\b \\f \\n \\r \\t \\v`` are the control characters; ``\\NNN`` (one to
  three octal digits) and ``\\xNN`` (one or two hex digits) are bytes;
* a backslash before any other character is that character (``\\\\`` is one
  backslash, ``\\N`` inside a longer field is ``N``).

A backslash before the delimiter or a line break makes it data in COPY; pyarrow
has already split there, so such a field (it ends in an unpaired backslash)
fails the file instead of loading different rows. So does ``\\.``, COPY's
end-of-data marker.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["TEXT_NULL", "FieldEscapeError", "decode_escapes", "decode_text_batch"]

TEXT_NULL = "\\N"

_ESCAPE = re.compile(rb"\\([0-7]{1,3}|x[0-9A-Fa-f]{1,2}|.|\Z)", re.DOTALL)
_CONTROL = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_OCTAL_DIGITS = b"01234567"


class UnsupportedEscapeError(ValueError):
    """A backslash sequence pgingest cannot read the way COPY does."""


class FieldEscapeError(ValueError):
    """A field's escapes cannot be read: which row of the batch, which column, and why."""

    def __init__(self, row: int, column: str, reason: str) -> None:
        super().__init__(reason)
        self.row = row
        self.column = column
        self.reason = reason


def _replacement(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if not code:
        raise UnsupportedEscapeError(
            "a field ends in a backslash: an escaped delimiter or line break"
        )
    if code == b".":
        raise UnsupportedEscapeError("a backslash-period (\\.), COPY's end-of-data marker")
    if code[0] in _OCTAL_DIGITS:
        return bytes([int(code, 8) & 0xFF])
    if code[:1] == b"x" and len(code) > 1:
        return bytes([int(code[1:], 16)])
    return _CONTROL.get(code, code)


def decode_escapes(raw: bytes) -> bytes:
    """One field's bytes with its backslash escapes decoded, as COPY's text format reads them."""
    return _ESCAPE.sub(_replacement, raw)


def decode_text_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with escapes decoded in its text and binary columns (other types have none).

    Raises FieldEscapeError for a field COPY would read differently, and for a
    text column whose decoded bytes are not valid UTF-8 (``\\xff``): binary
    columns (the careful mode) keep such bytes, and conversion rejects the row.
    """
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        is_bytes = pa.types.is_string(column.type) or pa.types.is_binary(column.type)
        columns.append(_decode_column(column, name) if is_bytes else column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _decode_column(column: pa.Array, name: str) -> pa.Array:
    has_backslash = pc.fill_null(pc.match_substring(column, "\\"), False)
    rows = np.flatnonzero(has_backslash.to_numpy(zero_copy_only=False))
    if rows.size == 0:
        return column
    is_text = pa.types.is_string(column.type)
    values = column.to_pylist()
    for row in rows:
        value = values[row]
        try:
            decoded = decode_escapes(value.encode("utf-8") if is_text else value)
            values[row] = decoded.decode("utf-8") if is_text else decoded
        except UnsupportedEscapeError as exc:
            raise FieldEscapeError(int(row), name, str(exc)) from exc
        except UnicodeDecodeError as exc:
            raise FieldEscapeError(
                int(row), name, "an escape makes bytes that are not valid UTF-8"
            ) from exc
    return pa.array(values, column.type)
