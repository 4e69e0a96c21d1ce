"""``max_reject_ratio``: a file that is mostly rejects fails, with a hint on the likely cause.

Prose read as CSV, a file in another encoding, or one delimited by another
character parses into records that are nearly all set aside; loading the few
that survive (or none) and exiting 0 would report a wrong file as loaded.

The rule: a file fails when all of its records are rejected, or when more
than ``max(ratio × records, 5)`` are — so a few bad records never fail a small
file that loads the rest (in a 10-record file one is already 10 %), and a file
with no good record always fails. A chunk of a large file is a unit of its
own and is judged alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgingest.store.rejects import Reject

__all__ = ["SMALL_FILE_ALLOWANCE", "exceeds_ratio", "likely_cause"]

# Rejects any file may have whatever its size (unless they are all its records):
# in a 10-record file one bad record is already 10 %, which says more about that
# record than about the file; a wrong delimiter or encoding rejects far more.
SMALL_FILE_ALLOWANCE = 5

# Characters a CSV file is often delimited by, to suggest one in the hint.
_DELIMITERS = (";", "\t", "|", ",")


def exceeds_ratio(*, parsed: int, rejected: int, ratio: float | None) -> bool:
    """Whether ``rejected`` of ``parsed`` records are too many for ``ratio`` (None: no limit)."""
    if ratio is None or rejected == 0:
        return False
    if rejected >= parsed:
        return True
    return rejected > max(ratio * parsed, SMALL_FILE_ALLOWANCE)


def likely_cause(rejects: Sequence[Reject], file_format: str, delimiter: str) -> str:
    """What probably made most records bad, from what kind of rejects dominate."""
    whole = [r for r in rejects if r.column is None and r.sqlstate is None]
    refused = [r for r in rejects if r.sqlstate is not None]
    if len(whole) * 2 >= len(rejects):
        if file_format in ("csv", "tsv"):
            guess = _other_delimiter(whole, delimiter)
            named = f' (it looks delimited by {guess!r}: set "csv": {{"delimiter": {guess!r}}})'
            return (
                "its records do not split into the header's columns: a wrong delimiter"
                + (named.replace("'", '"') if guess else "")
                + ', or not a CSV file at all (set "format")'
            )
        return f'its records do not read as {file_format}: is it another format (set "format")?'
    if len(refused) * 2 >= len(rejects):
        return "the server refused most rows: check the table's constraints against the file"
    return (
        'most values do not read as their columns\' types: a wrong encoding (set "encoding"), '
        "a wrong delimiter, or columns in another order than the header says"
    )


def _other_delimiter(rejects: Sequence[Reject], delimiter: str) -> str | None:
    raws = [r.raw for r in rejects[:20] if r.raw]
    counts = {d: sum(raw.count(d) for raw in raws) for d in _DELIMITERS if d != delimiter}
    best = max(counts, key=lambda d: counts[d], default=None)
    return best if best is not None and counts[best] >= len(raws) > 0 else None
