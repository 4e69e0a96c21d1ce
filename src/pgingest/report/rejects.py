"""Rejected records: what they are, and how they are kept in ``pgingest.rejects``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

__all__ = ["Reject", "write_rejects"]

# A raw record longer than this is cut in pgingest.rejects (the file keeps it whole).
MAX_RAW_CHARS = 10_000


@dataclass(frozen=True)
class Reject:
    """A record that did not load, where it is, and why."""

    record: int  # 0-based record number in the file
    error: str
    column: str | None = None
    value: str | None = None
    sqlstate: str | None = None
    line: int | None = None  # 1-based line (text files) or record number + 1
    raw: str | None = None

    def located(self, line: int | None, raw: str | None) -> Reject:
        """The same reject with its line and raw text filled in (where they were unknown)."""
        return replace(self, line=self.line or line, raw=self.raw or raw)


def write_rejects(
    conn: psycopg.Connection[Any],
    *,
    run_id: uuid.UUID,
    table_name: str,
    source: str,
    rejects: Sequence[Reject],
) -> None:
    """Insert rejects; call inside the unit's transaction so they land with (or without) it."""
    if not rejects:
        return
    with (
        conn.cursor() as cursor,
        cursor.copy(
            "COPY pgingest.rejects (run_id, table_name, source, line, column_name, value, error,"
            " sqlstate, raw) FROM STDIN"
        ) as copy,
    ):
        for reject in rejects:
            raw = reject.raw[:MAX_RAW_CHARS] if reject.raw is not None else None
            copy.write_row(
                (
                    run_id,
                    table_name,
                    source,
                    reject.line,
                    reject.column,
                    reject.value,
                    reject.error,
                    reject.sqlstate,
                    raw,
                )
            )
