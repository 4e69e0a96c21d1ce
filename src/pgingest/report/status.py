"""Where each source stands (``pgingest status``): its files loaded, changed, pending and failed.

A file's state is its latest manifest row for the source's table: ``loaded``
(and still the same size and modification time), ``changed`` (loaded, but the
file on disk differs now: the next run checks its content), ``failed``, or
``pending`` (never loaded). Nothing is fingerprinted, so the answer is quick
however large the files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgingest.discover import DiscoveredSource, SourceFile

__all__ = ["FileState", "SourceStatus", "read_source_status"]


@dataclass(frozen=True)
class FileState:
    """A matched file and what the manifest says of it."""

    path: str
    state: str  # loaded, changed, failed, pending, missing (named but not found)
    rows: int = 0
    rejects: int = 0
    error: str | None = None


@dataclass(frozen=True)
class SourceStatus:
    """A source's files, counted by state, with rows and rejects of the loads that count."""

    source: str
    table: str
    files: list[FileState] = field(default_factory=list)
    unmatched_patterns: list[str] = field(default_factory=list)
    last_loaded_at: dt.datetime | None = None

    def count(self, state: str) -> int:
        """Files in ``state``."""
        return sum(1 for f in self.files if f.state == state)

    @property
    def rows(self) -> int:
        """Rows of the loaded files."""
        return sum(f.rows for f in self.files if f.state in ("loaded", "changed"))

    @property
    def rejects(self) -> int:
        """Rejected records of the loads (and failed attempts) that count now."""
        return sum(f.rejects for f in self.files)


# The latest row of each part of each file (a large CSV file loads as chunks, each
# with its row; the part is '' for a whole file). to_jsonb(f)->>'part' reads the
# column without failing on a manifest made before chunks existed.
_LATEST = """
    WITH latest AS (
        SELECT DISTINCT ON (path, coalesce(to_jsonb(f)->>'part', ''))
            path, status, size, modified_ns, rows, error, run_id, loaded_at
        FROM pgingest.files f
        WHERE table_name = %(table)s AND path = ANY(%(paths)s) AND status IN ('loaded', 'failed')
        ORDER BY path, coalesce(to_jsonb(f)->>'part', ''), loaded_at DESC, id DESC
    )
    SELECT latest.path, latest.status, latest.size, latest.modified_ns, latest.rows,
           latest.error, latest.loaded_at,
           (SELECT count(*) FROM pgingest.rejects r
            WHERE r.table_name = %(table)s AND r.source = latest.path
              AND r.run_id = latest.run_id) AS rejects
    FROM latest
    ORDER BY latest.path, latest.loaded_at
"""


def _file_state(file: SourceFile, parts: list[tuple[Any, ...]]) -> FileState:
    """A file's state from the latest row of each of its parts (oldest first)."""
    if not parts:
        return FileState(file.path, "pending")
    _, status, size, modified_ns, _, error, _, _ = parts[-1]
    rejects = sum(int(part[7]) for part in parts)
    if status == "failed":
        return FileState(file.path, "failed", 0, rejects, error)
    rows = sum(int(part[4]) for part in parts if part[1] == "loaded")
    same = size == file.size and modified_ns == file.modified_ns
    return FileState(file.path, "loaded" if same else "changed", rows, rejects)


def _has_manifest(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT to_regclass('pgingest.files') IS NOT NULL"
        " AND to_regclass('pgingest.rejects') IS NOT NULL"
    ).fetchone()
    return bool(row and row[0])


def read_source_status(
    conn: psycopg.Connection[Any], discovered: list[DiscoveredSource]
) -> list[SourceStatus]:
    """Each source's files and their state in the manifest."""
    has_manifest = _has_manifest(conn)
    statuses: list[SourceStatus] = []
    for found in discovered:
        table = str(found.source.table_name)
        paths = [f.path for f in found.files]
        latest: dict[str, list[tuple[Any, ...]]] = {}
        if has_manifest and paths:
            for row in conn.execute(_LATEST, {"table": table, "paths": paths}).fetchall():
                latest.setdefault(row[0], []).append(row)
        files = [_file_state(file, latest.get(file.path, [])) for file in found.files]
        loaded_at = [row[6] for rows in latest.values() for row in rows if row[1] == "loaded"]
        files.extend(
            FileState(str(problem.path or ""), "missing", error=problem.describe())
            for problem in found.problems
        )
        statuses.append(
            SourceStatus(
                source=found.source.name,
                table=table,
                files=files,
                unmatched_patterns=list(found.unmatched_patterns),
                last_loaded_at=max(loaded_at, default=None),
            )
        )
    return statuses
