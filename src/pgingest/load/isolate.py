"""Rows the server refuses inside binary COPY, isolated so the good rows of a batch still load.

A batch is copied inside a savepoint. If the server refuses it for a row-level
reason (SQLSTATE class 22, data exception, or 23, integrity constraint), the
savepoint is rolled back and the bad row found: from the row number in the
error's CONTEXT (``COPY t, line 7``) when the server gives one, otherwise by
bisection. Each bad row costs a few round trips: about O(k log n) COPYs for
k bad rows in a batch of n. Any other failure (a lost connection, a deadlock)
is raised for the unit to retry or fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa

from pgingest.load.copy import CopyWriter, copy_row_of_error
from pgingest.load.timing import StageTimer
from pgingest.naming import TableName
from pgingest.types import TargetColumn

__all__ = [
    "ROW_ERROR_CLASSES",
    "IsolatedCopy",
    "RowRefusal",
    "copy_isolating",
    "is_row_error",
    "refusal_of",
]

# SQLSTATE classes that blame one row: 22 data exception, 23 integrity violation.
ROW_ERROR_CLASSES = ("22", "23")


@dataclass(frozen=True)
class RowRefusal:
    """A row of a batch the server refused, and why."""

    row: int
    message: str
    sqlstate: str | None
    column: str | None


@dataclass(frozen=True)
class IsolatedCopy:
    """What became of a batch: the rows refused, and those a BEFORE trigger skipped."""

    refused: list[RowRefusal]
    skipped: int = 0


def is_row_error(exc: BaseException) -> bool:
    """Whether the server refused a row (rather than the whole operation)."""
    sqlstate = getattr(exc, "sqlstate", None)
    return bool(sqlstate) and str(sqlstate)[:2] in ROW_ERROR_CLASSES


def refusal_of(exc: psycopg.Error, row: int) -> RowRefusal:
    """The server's reason for refusing a row, with its SQLSTATE and column."""
    diag = exc.diag
    message = (diag.message_primary or str(exc)).strip()
    if diag.message_detail:
        message = f"{message} ({diag.message_detail.strip()})"
    return RowRefusal(row, message, exc.sqlstate, diag.column_name)


def _copy(
    conn: psycopg.Connection[Any],
    table: TableName,
    columns: Sequence[TargetColumn],
    batch: pa.RecordBatch,
    metrics: StageTimer,
) -> int:
    """Copy the batch under a savepoint; the rows a trigger skipped."""
    with (
        conn.transaction(),  # a savepoint inside the unit's transaction
        conn.cursor() as cursor,
        CopyWriter(cursor, table, columns, metrics=metrics) as writer,
    ):
        writer.write(batch)
    return writer.skipped


def copy_isolating(
    conn: psycopg.Connection[Any],
    table: TableName,
    columns: Sequence[TargetColumn],
    batch: pa.RecordBatch,
    *,
    metrics: StageTimer,
    limit: int | None = None,
) -> IsolatedCopy:
    """Copy ``batch``, leaving out the rows the server refuses; says which they were.

    ``limit`` stops the search once that many rows are refused (the unit will fail).
    """
    refused: list[RowRefusal] = []
    skipped = 0
    pending: list[tuple[int, int]] = [(0, batch.num_rows)]
    while pending:
        if limit is not None and len(refused) > limit:
            break
        start, length = pending.pop()
        if length <= 0:
            continue
        try:
            skipped += _copy(conn, table, columns, batch.slice(start, length), metrics)
            continue
        except psycopg.Error as exc:
            if not is_row_error(exc):
                raise
            row = copy_row_of_error(getattr(exc.diag, "context", None))
            if row is not None and 0 <= row < length:
                refused.append(refusal_of(exc, start + row))
                # Later ranges are pushed first, so rows are copied in file order.
                pending.append((start + row + 1, length - row - 1))
                pending.append((start, row))
            elif length == 1:
                refused.append(refusal_of(exc, start))
            else:
                half = length // 2
                pending.append((start + half, length - half))
                pending.append((start, half))
    refused.sort(key=lambda r: r.row)
    return IsolatedCopy(refused, skipped)
