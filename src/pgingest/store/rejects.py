"""Rejected records: what they are, and how ``pgingest.rejects`` keeps them (written, read)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

__all__ = [
    "Reject",
    "StoredReject",
    "read_rejects",
    "write_rejects",
]

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
            fields = (
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
            copy.write_row(tuple(_text(value) for value in fields))


def _text(value: Any) -> Any:
    # A text column cannot hold NUL: keep it visible, escaped, rather than fail the file.
    return value.replace("\x00", "\\x00") if isinstance(value, str) else value


@dataclass(frozen=True)
class StoredReject:
    """A row of pgingest.rejects."""

    run_id: str
    table_name: str
    source: str
    line: int | None
    column: str | None
    value: str | None
    error: str
    raw: str | None


def read_rejects(
    conn: psycopg.Connection[Any],
    *,
    run_id: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    config_path: str | None = None,
) -> list[StoredReject]:
    """Rejects, newest first, in file order; optionally of one run, source file or config."""
    rows = conn.execute(
        """
        SELECT run_id::text, table_name, source, line, column_name, value, error, raw
        FROM pgingest.rejects
        WHERE (%(run)s::uuid IS NULL OR run_id = %(run)s::uuid)
          AND (%(source)s::text IS NULL OR source = %(source)s::text)
          AND (%(config)s::text IS NULL OR run_id IN (
                SELECT run_id FROM pgingest.runs WHERE config_path = %(config)s::text))
        ORDER BY rejected_at DESC, source, line NULLS LAST, id
        LIMIT %(limit)s
        """,
        {"run": run_id, "source": source, "limit": limit, "config": config_path},
    ).fetchall()
    return [StoredReject(*row) for row in rows]
