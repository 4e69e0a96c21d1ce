"""How many records pyarrow's CSV reader reads from a body of CSV text, counted on its bytes.

Small files of a group can be parsed as one text (their bodies one after
another under one header, pipeline/unit/group.py): one pyarrow reader instead
of one per file, whose start-up (~0.4 ms) was the largest cost left per
400-row file (issue 12). Each file's rows are then told apart by its count.
The count must be pyarrow's own: records end at a line feed outside a quoted
field, and an empty line is no record (``ignore_empty_lines``). It is exact for
the bodies this module accepts, and None for any other, which are read alone:

* a carriage return only as part of CRLF (a lone CR also ends a line);
* an even number of quotes (a body never ends inside a quoted field);
* no quote opening a quoted part in mid-field, so that a line feed is inside a
  quoted field exactly when an odd number of quotes stands before it. Given
  the ``delimiter``, the count checks this itself, on the quote positions it
  finds anyway (parse/csv_exact.py's rule, ``opens_in_mid_field``, for a body
  after a closed header line: one scan of the bytes instead of two, issue 12);
  without it, the caller must have checked.

tests/test_record_count.py compares the count with pyarrow's on generated
and hostile bodies. The caller also checks that the counts add up to the rows
pyarrow read from the whole text, and reads each file alone if they do not.
"""

from __future__ import annotations

import numpy as np

from pgingest.parse.csv_exact import opens_in_mid_field

__all__ = ["count_records"]

_LF = ord("\n")
_CR = ord("\r")


# Bodies up to this size are counted with bytes methods (a 10-row body: ~10 µs against
# numpy's ~35 µs of fixed cost per call); larger ones with numpy (80 KB: ~0.13 ms
# against ~0.34 ms). Both give the same answers (tests/test_record_count.py).
SMALL_BODY_BYTES = 8 << 10


def count_records(body: bytes, *, quote: str | None, delimiter: str | None = None) -> int | None:
    """The records in ``body`` (text after a header line), or None when not sure.

    With ``delimiter``: None too when a quote opens a quoted part in mid-field
    (the header line before the body must hold no open quote).
    """
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        return None
    if len(body) <= SMALL_BODY_BYTES:
        return _count_small(body, quote, delimiter)
    data = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(data == _LF)
    if quote is not None:
        quotes = np.flatnonzero(data == ord(quote))
        if quotes.size % 2:
            return None
        if delimiter is not None and opens_in_mid_field(
            data, quotes, delimiter=ord(delimiter), quote=ord(quote)
        ):
            return None
        # Quotes before each line feed: an odd number means it is inside a quoted field.
        newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate(([0], newlines[:-1] + 1)) if newlines.size else newlines
    lengths = newlines - starts
    is_empty = (lengths == 0) | ((lengths == 1) & (data[np.maximum(newlines - 1, 0)] == _CR))
    records = int(newlines.size - np.count_nonzero(is_empty))
    tail = int(newlines[-1]) + 1 if newlines.size else 0
    return records + (1 if tail < len(body) else 0)


def _count_small(body: bytes, quote: str | None, delimiter: str | None) -> int | None:
    """count_records on a short body: split at quotes, every other part is outside them."""
    masked = body
    if quote is not None:
        quote_byte = quote.encode()
        parts = body.split(quote_byte)
        if len(parts) % 2 == 0:  # an odd number of quotes
            return None
        outside = parts[::2]
        if delimiter is not None:
            # An opening quote follows the part outside quotes before it: that part must
            # be empty (the body's start, or a doubled quote) or end where a field starts.
            before = b"".join([part[-1:] for part in outside[:-1]])
            if before.translate(None, delimiter.encode() + b"\n\r" + quote_byte):
                return None
        masked = b"q".join(outside)  # each quoted part as one byte: no line break in it
    lines = masked.split(b"\n")
    tail = lines.pop()  # after the last line feed: a record unless empty
    return len(lines) - lines.count(b"") - lines.count(b"\r") + (1 if tail else 0)
