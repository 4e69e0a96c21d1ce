"""Which row of a spreadsheet names the columns, when title rows sit above the table.

Spreadsheets made for people often start with a title, a note or a date above
the table. The header is the first row (after ``skip_rows``) that

* has only distinct text in its non-empty cells (no numbers, dates, repeats),
* has at least as many non-empty cells as ``MIN_WIDER_SHARE`` of the
  ``LOOKAHEAD_ROWS`` non-empty rows below it (a table's rows are no wider than
  its header), and
* has at least twice as many non-empty cells as every row above it (those
  are the titles and notes it skips: a row half as wide as the table or
  wider is never skipped).

No such row among the first ``SEARCH_ROWS`` non-empty rows: the first
non-empty row is the header, as before. Blank rows are never the header.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FoundHeader", "find_header"]

Row = tuple[int, list[Any]]  # (1-based row number in the sheet, cells)

# Title blocks are a few rows; a header further down than this is not looked for.
SEARCH_ROWS = 30
# The rows below a candidate it is compared with.
LOOKAHEAD_ROWS = 20
# A few rows wider than the header (a note in the margin) do not disqualify it.
MIN_WIDER_SHARE = 0.9


@dataclass(frozen=True)
class FoundHeader:
    """The header row (None for an empty sheet), the rows after it, and the rows skipped."""

    header: Row | None
    rest: Iterator[Row]
    skipped: tuple[int, ...] = ()  # row numbers of non-empty rows above the header

    def note(self, skip_rows: int) -> str:
        """One line saying which rows were taken for titles."""
        assert self.header is not None
        rows = ", ".join(str(number) for number in self.skipped)
        return (
            f"row {self.header[0]} is the header; row{'s' if len(self.skipped) > 1 else ''} "
            f"{rows} above it {'are' if len(self.skipped) > 1 else 'is'} skipped as a title "
            f'(set "excel": {{"skip_rows": {self.header[0] - 1}}} to say so, '
            f"or skip_rows: {skip_rows} and header: false to read them)"
        )


def _filled(cells: Sequence[Any]) -> list[Any]:
    return [c for c in cells if c is not None and not (isinstance(c, str) and not c.strip())]


def _is_names(cells: Sequence[Any]) -> bool:
    filled = _filled(cells)
    return (
        bool(filled)
        and all(isinstance(c, str) for c in filled)
        and len({c.strip() for c in filled}) == len(filled)
    )


def _is_header(index: int, widths: list[int], rows: list[Row]) -> bool:
    width = widths[index]
    if any(above * 2 > width for above in widths[:index]) or not _is_names(rows[index][1]):
        return False
    below = widths[index + 1 : index + 1 + LOOKAHEAD_ROWS]
    return sum(1 for w in below if w <= width) >= MIN_WIDER_SHARE * len(below)


def find_header(rows: Iterator[Row]) -> FoundHeader:
    """The header row of ``rows`` by the rule of the module's docstring."""
    ahead: list[Row] = []  # the rows read ahead, blank ones included, in order
    filled: list[int] = []  # positions in ``ahead`` of the non-empty rows
    for row in rows:
        ahead.append(row)
        if _filled(row[1]):
            filled.append(len(ahead) - 1)
            if len(filled) >= SEARCH_ROWS + LOOKAHEAD_ROWS:
                break
    if not filled:
        return FoundHeader(None, iter(()))
    candidates = [ahead[i] for i in filled]
    widths = [len(_filled(cells)) for _, cells in candidates]
    chosen = next(
        (i for i in range(min(SEARCH_ROWS, len(candidates))) if _is_header(i, widths, candidates)),
        0,
    )
    position = filled[chosen]
    skipped = tuple(candidates[i][0] for i in range(chosen))
    return FoundHeader(ahead[position], itertools.chain(ahead[position + 1 :], rows), skipped)
