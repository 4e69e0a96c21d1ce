"""Rows of text values → record batches: what the spreadsheet and fixed-width readers share.

Both readers turn each record into text values (None for an empty cell), so
pgingest's own conversion reads them as it reads CSV: every target type, and
a bad value set aside with its line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pgingest.errors import ParseError
from pgingest.parse import ReadPlan, SkippedRecord, SourceBatch, rebatch

__all__ = ["TextRow", "check_names", "text_batches"]


@dataclass(frozen=True)
class TextRow:
    """One record: its number (0-based), line (1-based) and values, or why it was skipped."""

    record: int
    line: int
    values: Sequence[str | None]
    problem: str | None = None
    raw: str = ""


def check_names(names: Sequence[str], *, path: str, line: int | None) -> None:
    """Column names must be present and distinct, as for CSV (PostgreSQL needs both)."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name == "":
            raise ParseError(
                f"column {position} of the header has no name",
                hint="name it in the file (or give column_names, where the format has them)",
                path=path,
                line=line,
            )
        if name in seen:
            raise ParseError(
                f"the header names column {name!r} twice (columns {seen[name]} and {position})",
                hint="rename one in the file (or give column_names, where the format has them)",
                path=path,
                line=line,
            )
        seen[name] = position


def text_batches(
    rows: Iterable[TextRow], names: Sequence[str], plan: ReadPlan, *, path: str
) -> Iterator[SourceBatch]:
    """The plan's columns of ``rows`` in batches of ``plan.batch_rows``.

    A record that does not fit the columns fails the fast mode (so the unit is
    read again carefully); the careful mode hands it over as a skipped record.
    """
    return rebatch(_batches(rows, names, plan, path), plan.batch_rows)


def _batches(
    rows: Iterable[TextRow], names: Sequence[str], plan: ReadPlan, path: str
) -> Iterator[SourceBatch]:
    positions = {name: index for index, name in enumerate(names)}
    wanted = [positions.get(name) for name in plan.names]
    size = max(plan.batch_rows, 1)
    columns: list[list[str | None]] = [[] for _ in wanted]
    records: list[int] = []
    skipped: list[SkippedRecord] = []
    for row in rows:
        if row.problem is not None:
            if not plan.careful:
                raise ParseError(row.problem, path=path, line=row.line)
            skipped.append(SkippedRecord(row.record, row.raw, row.problem))
            continue
        for column, position in zip(columns, wanted, strict=True):
            column.append(
                row.values[position]
                if position is not None and position < len(row.values)
                else None
            )
        records.append(row.record)
        if len(records) >= size:
            yield _batch(plan, columns, records, skipped)
            columns, records, skipped = [[] for _ in wanted], [], []
    if records or skipped:
        yield _batch(plan, columns, records, skipped)


def _batch(
    plan: ReadPlan,
    columns: list[list[str | None]],
    records: list[int],
    skipped: list[SkippedRecord],
) -> SourceBatch:
    arrays = [pa.array(values, pa.string()) for values in columns]
    data = pa.RecordBatch.from_arrays(arrays, names=plan.names)
    numbers = np.asarray(records, dtype=np.int64)
    first = int(numbers[0]) if len(numbers) else 0
    return SourceBatch(data, first, numbers, tuple(skipped))
