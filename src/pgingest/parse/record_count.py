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
* no quote opening a quoted part in mid-field (the caller checks this with
  ``has_mid_field_quotes``), so that a line feed is inside a quoted field
  exactly when an odd number of quotes stands before it.

tests/test_record_count.py compares the count with pyarrow's on generated
and hostile bodies. The caller also checks that the counts add up to the rows
pyarrow read from the whole text, and reads each file alone if they do not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["count_records"]

_LF = ord("\n")
_CR = ord("\r")


def count_records(body: bytes, *, quote: str | None) -> int | None:
    """The records in ``body`` (text after a header line), or None when not sure."""
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        return None
    data = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(data == _LF)
    if quote is not None:
        quotes = np.flatnonzero(data == ord(quote))
        if quotes.size % 2:
            return None
        # Quotes before each line feed: an odd number means it is inside a quoted field.
        newlines = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    starts = np.concatenate(([0], newlines[:-1] + 1)) if newlines.size else newlines
    lengths = newlines - starts
    is_empty = (lengths == 0) | ((lengths == 1) & (data[np.maximum(newlines - 1, 0)] == _CR))
    records = int(newlines.size - np.count_nonzero(is_empty))
    tail = int(newlines[-1]) + 1 if newlines.size else 0
    return records + (1 if tail < len(body) else 0)
