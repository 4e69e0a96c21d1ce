"""Where each source stands (``pgingest status``): its files loaded, changed, pending and failed.

A file's state is its latest manifest row for the source's table: ``loaded``
(and still the same size and modification time), ``partial`` (a large file
loading in chunks, some of which landed: ``partial (k of n parts)``, the rest
loads next run), ``changed`` (loaded, but the file on disk differs now: the
next run checks its content), ``failed``, or ``pending`` (never loaded).
Nothing is fingerprinted, so the answer is quick however large the files;
``verify`` hashes loaded files again to find content changed behind an
unchanged size and modification time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from pgingest.discover import DiscoveredSource, SourceFile
from pgingest.errors import SourceError
from pgingest.split import CHUNK_BYTES
from pgingest.store.manifest import fingerprint_files, parts_progress
from pgingest.store.schema import has_tables

__all__ = ["STATES", "FileState", "SourceStatus", "read_source_status"]

# A file's states, in the order ``pgingest status --json`` counts them.
STATES = ("loaded", "partial", "changed", "pending", "failed", "missing")


@dataclass(frozen=True)
class FileState:
    """A matched file and what the manifest says of it."""

    path: str
    state: str  # loaded, partial, changed, failed, pending, missing (named but not found)
    rows: int = 0
    rejects: int = 0
    error: str | None = None
    parts: tuple[int, int] | None = None  # partial: (parts loaded, parts in all)

    @property
    def label(self) -> str:
        """The state as shown: ``partial (3 of 7 parts)`` for a half-loaded chunked file."""
        if self.state == "partial" and self.parts is not None:
            return f"partial ({self.parts[0]} of {self.parts[1]} parts)"
        return self.state


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
        return sum(f.rows for f in self.files if f.state in ("loaded", "partial", "changed"))

    @property
    def rejects(self) -> int:
        """Rejected records of the loads (and failed attempts) that count now."""
        return sum(f.rejects for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """As ``pgingest status --json`` prints it."""
        return {
            "source": self.source,
            "table": self.table,
            "files": len(self.files),
            **{state: self.count(state) for state in STATES},
            "changed_files": [
                {"path": f.path, "error": f.error}
                for f in self.files
                if f.state == "changed" and f.error
            ],
            "partial_files": [
                {"path": f.path, "parts_loaded": f.parts[0], "parts": f.parts[1]}
                for f in self.files
                if f.state == "partial" and f.parts is not None
            ],
            "rows": self.rows,
            "rejects": self.rejects,
            "last_loaded_at": self.last_loaded_at.isoformat() if self.last_loaded_at else None,
            "failed_files": [
                {"path": f.path, "error": f.error}
                for f in self.files
                if f.state in ("failed", "missing")
            ],
        }


# The latest row of each part of each file (a large CSV file loads as chunks, each
# with its row; the part is '' for a whole file). to_jsonb(f)->>'part' reads the
# column without failing on a manifest made before chunks existed.
_LATEST = """
    WITH latest AS (
        SELECT DISTINCT ON (path, coalesce(to_jsonb(f)->>'part', ''))
            path, status, size, modified_ns, rows, error, run_id, loaded_at,
            coalesce(to_jsonb(f)->>'part', '') AS part, fingerprint
        FROM pgingest.files f
        WHERE table_name = %(table)s AND path = ANY(%(paths)s) AND status IN ('loaded', 'failed')
        ORDER BY path, coalesce(to_jsonb(f)->>'part', ''), loaded_at DESC, id DESC
    )
    SELECT latest.path, latest.status, latest.size, latest.modified_ns, latest.rows,
           latest.error, latest.loaded_at,
           (SELECT count(*) FROM pgingest.rejects r
            WHERE r.table_name = %(table)s AND r.source = latest.path
              AND r.run_id = latest.run_id) AS rejects,
           latest.part, latest.fingerprint
    FROM latest
    ORDER BY latest.path, latest.loaded_at
"""


def _file_state(file: SourceFile, parts: list[tuple[Any, ...]], chunk_bytes: int) -> FileState:
    """A file's state from the latest row of each of its parts (oldest first)."""
    if not parts:
        return FileState(file.path, "pending")
    _, status, size, modified_ns, _, error, _, _, _, _ = parts[-1]
    rejects = sum(int(part[7]) for part in parts)
    if status == "failed":
        return FileState(file.path, "failed", 0, rejects, error)
    loaded = [part for part in parts if part[1] == "loaded"]
    rows = sum(int(part[4]) for part in loaded)
    same = size == file.size and modified_ns == file.modified_ns
    if not same:
        return FileState(file.path, "changed", rows, rejects)
    progress = parts_progress([str(part[8]) for part in loaded], file.size, chunk_bytes)
    if progress is not None:
        return FileState(file.path, "partial", rows, rejects, parts=progress)
    return FileState(file.path, "loaded", rows, rejects)


def _verify(files: list[FileState], loaded_with: dict[str, str]) -> list[FileState]:
    """Hash the loaded files again: content changed behind an unchanged size and mtime shows."""
    to_hash = [f.path for f in files if f.state in ("loaded", "partial") and f.path in loaded_with]
    hashes = fingerprint_files(to_hash)
    checked: list[FileState] = []
    for file in files:
        found = hashes.get(file.path)
        if isinstance(found, SourceError):
            checked.append(replace(file, state="changed", error=found.describe()))
        elif found is not None and found != loaded_with[file.path]:
            error = (
                f"{file.path}: content changed since it was loaded, with the same size and "
                'modification time (the next run skips it unless the source sets "fingerprint": '
                '"content")'
            )
            checked.append(replace(file, state="changed", error=error))
        else:
            checked.append(file)
    return checked


def read_source_status(
    conn: psycopg.Connection[Any],
    discovered: list[DiscoveredSource],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    verify: bool = False,
) -> list[SourceStatus]:
    """Each source's files and their state in the manifest; ``verify`` hashes loaded files."""
    has_manifest = has_tables(conn, "files", "rejects")
    statuses: list[SourceStatus] = []
    for found in discovered:
        table = str(found.source.table_name)
        paths = [f.path for f in found.files]
        latest: dict[str, list[tuple[Any, ...]]] = {}
        if has_manifest and paths:
            for row in conn.execute(_LATEST, {"table": table, "paths": paths}).fetchall():
                latest.setdefault(row[0], []).append(row)
        files = [_file_state(file, latest.get(file.path, []), chunk_bytes) for file in found.files]
        if verify:
            loaded_with = {
                path: str(rows[-1][9]) for path, rows in latest.items() if rows[-1][1] == "loaded"
            }
            files = _verify(files, loaded_with)
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
