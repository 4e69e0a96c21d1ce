"""The manifest (``pgingest.files``): which units are loaded, and the row that says so.

A unit's manifest row is written in the same transaction as its rows, so the
manifest never claims rows that did not land, and rows never land unclaimed.
A file counts as already loaded when a loaded row has its path and content
fingerprint (sha256); size and modification time spare the hashing of files
that have not been touched since.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from pgingest.discover import SourceFile, file_error, part_range
from pgingest.errors import SourceError
from pgingest.remote import local_copy

__all__ = [
    "Decision",
    "LoadedEntry",
    "LoadedRecord",
    "ManifestLookup",
    "decide",
    "failed_paths",
    "fingerprint_file",
    "fingerprint_files",
    "is_recorded",
    "loaded_entries",
    "loaded_paths",
    "loaded_rows",
    "lock_for_replace",
    "look_up",
    "mark_replaced",
    "overlaps_loaded",
    "overlaps_loaded_many",
    "part_range",
    "parts_progress",
    "record_failed",
    "record_loaded",
    "record_loaded_many",
    "replace_table_manifest",
]

# hashlib releases the GIL on large reads, so threads hash files in parallel.
FINGERPRINT_THREADS = 4

Action = Literal["load", "skip", "changed"]


@dataclass(frozen=True)
class LoadedEntry:
    """A loaded unit as the manifest records it."""

    path: str
    fingerprint: str
    size: int | None
    modified_ns: int | None
    rows: int
    run_id: str | None
    part: str = ""  # "" for a whole file, "bytes START-END" for a chunk


@dataclass(frozen=True)
class Decision:
    """What to do with a discovered file, and its fingerprint when it was computed."""

    file: SourceFile
    action: Action
    fingerprint: str | None = None
    previous: LoadedEntry | None = None
    loaded_parts: tuple[str, ...] = ()  # chunks that landed before (a resumed file)


def fingerprint_file(path: str, size: int | None = None) -> str:
    """``sha256:<hex>`` of the file's bytes as stored (compressed files are not decompressed).

    With ``size`` (a local file's size when discovered), exactly that many bytes
    are hashed, the bytes the reader then loads (parse/stream.py), even while the
    file grows.
    """
    try:
        # A remote object or zip member is hashed from its local copy (fetched once).
        with open(local_copy(path), "rb") as handle:
            if size is None:
                digest = hashlib.file_digest(handle, "sha256")
            else:
                digest = _digest_prefix(handle, size, path)
    except FileNotFoundError as exc:
        raise file_error(exc, path) from exc
    except OSError as exc:
        raise SourceError(f"cannot read file to fingerprint it: {exc.strerror}", path=path) from exc
    return f"sha256:{digest.hexdigest()}"


_HASH_BLOCK_BYTES = 1 << 20  # as hashlib.file_digest reads


def _digest_prefix(handle: Any, size: int, path: str) -> Any:
    digest = hashlib.sha256()
    left = size
    while left > 0:
        block = handle.read(min(left, _HASH_BLOCK_BYTES))
        if not block:
            raise SourceError(
                f"the file shrank after it was found ({size:,} bytes then)",
                hint="load it once it is complete: the next run reads it again",
                path=path,
            )
        digest.update(block)
        left -= len(block)
    return digest


def fingerprint_files(
    paths: Sequence[str], sizes: Mapping[str, int] | None = None
) -> dict[str, str | SourceError]:
    """Fingerprints of many files, in parallel; an unreadable file maps to its error."""

    known = sizes or {}

    def one(path: str) -> str | SourceError:
        try:
            return fingerprint_file(path, known.get(path))
        except SourceError as exc:
            return exc

    def several(batch: Sequence[str]) -> list[str | SourceError]:
        return [one(path) for path in batch]

    batches = _hash_batches(paths, known)
    if len(batches) == 1 or _mostly_tiny(paths, known):
        return dict(zip(paths, several(paths), strict=True))
    with ThreadPoolExecutor(FINGERPRINT_THREADS, thread_name_prefix="pgingest-hash") as pool:
        hashed = pool.map(several, batches)
        return dict(zip(paths, (h for batch in hashed for h in batch), strict=True))


# Small files are hashed several to a task: a task per 400-row file cost about as
# much as its hashing (issue 12: 5,000 files, 0.9 s -> 0.45 s); a large file, or
# one of unknown size, is a task of its own, so large files hash in parallel.
HASH_BATCH_BYTES = 4 << 20
HASH_BATCH_FILES = 64
# Files this small on average are hashed by the calling thread alone: their time
# is opening and reading, which threads only fight over for the GIL (20,000 files
# of 10 rows: 1.4 s with four threads, 0.6 s with one).
TINY_FILE_BYTES = 16 << 10


def _mostly_tiny(paths: Sequence[str], sizes: Mapping[str, int]) -> bool:
    if not paths or len(sizes) < len(paths):
        return False
    return sum(sizes.get(path, TINY_FILE_BYTES) for path in paths) < TINY_FILE_BYTES * len(paths)


def _hash_batches(paths: Sequence[str], sizes: Mapping[str, int]) -> list[list[str]]:
    """The paths in order, cut into consecutive batches of at most HASH_BATCH_* each."""
    batches: list[list[str]] = []
    batch: list[str] = []
    held = 0
    for path in paths:
        size = sizes.get(path, HASH_BATCH_BYTES)
        if batch and (held + size > HASH_BATCH_BYTES or len(batch) >= HASH_BATCH_FILES):
            batches.append(batch)
            batch, held = [], 0
        batch.append(path)
        held += size
    if batch:
        batches.append(batch)
    return batches


@dataclass(frozen=True)
class ManifestLookup:
    """What the manifest says of many candidate files of many tables, read in one query."""

    # (table, path) → its loaded rows (one per loaded part), newest first
    loaded: dict[tuple[str, str], list[LoadedEntry]]
    # (table, path) of files with a part (or the whole file) whose latest row failed
    failed: set[tuple[str, str]]

    def entries(self, table_name: str, paths: Iterable[str]) -> dict[str, list[LoadedEntry]]:
        """The loaded rows of these paths for the table (``decide`` takes them)."""
        return {
            path: self.loaded[table_name, path]
            for path in paths
            if (table_name, path) in self.loaded
        }

    def failed_paths(self, table_name: str, paths: Iterable[str]) -> set[str]:
        """The paths among ``paths`` whose last attempt (of some part) failed."""
        return {path for path in paths if (table_name, path) in self.failed}


def look_up(
    conn: psycopg.Connection[Any], candidates: Iterable[tuple[str, Iterable[str]]]
) -> ManifestLookup:
    """The manifest rows of every candidate file, for every table, in one query.

    ``candidates`` pairs a table name with the paths that may load into it. A
    run with many small files asks once here instead of once per source (or file).
    """
    wanted = {(table, path) for table, paths in candidates for path in paths}
    loaded: dict[tuple[str, str], list[LoadedEntry]] = {}
    if not wanted:
        return ManifestLookup(loaded, set())
    # Two arrays, not one of pairs: the index on (path, table_name) serves, and a
    # row of a table and path asked for separately is dropped below. Of the rows
    # that are not loaded, only a part's latest one counts, and only if it failed.
    rows = conn.execute(
        """
        SELECT table_name, path, fingerprint, size, modified_ns, rows, run_id, part, status
        FROM (
            SELECT table_name, path, fingerprint, size, modified_ns, rows, run_id::text, part,
                status, loaded_at, id,
                row_number() OVER (
                    PARTITION BY table_name, path, part ORDER BY loaded_at DESC, id DESC
                ) AS newest
            FROM pgingest.files
            WHERE table_name = ANY(%s) AND path = ANY(%s)
        ) f
        WHERE status = 'loaded' OR (status = 'failed' AND newest = 1)
        ORDER BY loaded_at DESC, id DESC
        """,
        (list({table for table, _ in wanted}), list({path for _, path in wanted})),
    ).fetchall()
    failed: set[tuple[str, str]] = set()
    for table, path, fingerprint, size, modified_ns, count, run_id, part, status in rows:
        if (table, path) not in wanted:
            continue
        if status == "failed":
            failed.add((table, path))
        else:
            loaded.setdefault((table, path), []).append(
                LoadedEntry(path, fingerprint, size, modified_ns, count, run_id, part)
            )
    return ManifestLookup(loaded, failed)


def loaded_entries(
    conn: psycopg.Connection[Any], table_name: str, paths: Iterable[str]
) -> dict[str, list[LoadedEntry]]:
    """Loaded manifest rows of these paths for this table, newest first."""
    rows = conn.execute(
        """
        SELECT path, fingerprint, size, modified_ns, rows, run_id::text, part
        FROM pgingest.files
        WHERE table_name = %s AND path = ANY(%s) AND status = 'loaded'
        ORDER BY loaded_at DESC, id DESC
        """,
        (table_name, list(paths)),
    ).fetchall()
    entries: dict[str, list[LoadedEntry]] = {}
    for path, fingerprint, size, modified_ns, count, run_id, part in rows:
        entries.setdefault(path, []).append(
            LoadedEntry(path, fingerprint, size, modified_ns, count, run_id, part)
        )
    return entries


def failed_paths(conn: psycopg.Connection[Any], table_name: str, paths: Iterable[str]) -> set[str]:
    """Paths with a part (or the whole file) whose latest manifest row says it failed."""
    rows = conn.execute(
        """
        SELECT DISTINCT path FROM (
            SELECT DISTINCT ON (path, part) path, status FROM pgingest.files
            WHERE table_name = %s AND path = ANY(%s)
            ORDER BY path, part, loaded_at DESC, id DESC
        ) latest WHERE status = 'failed'
        """,
        (table_name, list(paths)),
    ).fetchall()
    return {row[0] for row in rows}


def _gaps(parts: Iterable[str], size: int) -> list[tuple[int, int]]:
    """Byte ranges of a file that no loaded chunk covers (none when it loaded whole)."""
    ranges: list[tuple[int, int]] = []
    for part in parts:
        found = part_range(part)
        if found is None:
            return []
        ranges.append(found)
    gaps: list[tuple[int, int]] = []
    position = 0
    for start, end in sorted(ranges):
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < size:
        gaps.append((position, size))
    return gaps


def parts_progress(parts: Sequence[str], size: int, chunk_bytes: int) -> tuple[int, int] | None:
    """(parts loaded, parts in all) of a file only some chunks of which landed; None if whole.

    The parts still to load are counted as the next run splits the gaps: one
    chunk per ``chunk_bytes``, the last taking up to half a chunk more.
    """
    gaps = _gaps(parts, size)
    if not gaps or not parts:
        return None
    remaining = sum(
        len(range(chunk_bytes, end - start - chunk_bytes // 2, chunk_bytes)) + 1
        for start, end in gaps
    )
    return len(parts), len(parts) + remaining


def _covers(parts: Iterable[str], size: int) -> bool:
    """Whether loaded parts make up the whole file."""
    ranges = []
    for part in parts:
        found = part_range(part)
        if found is None:
            return True  # loaded whole
        ranges.append(found)
    position = 0
    for start, end in sorted(ranges):
        if start > position:
            return False
        position = max(position, end)
    return position >= size


def _decision_for(file: SourceFile, fingerprint: str, previous: list[LoadedEntry]) -> Decision:
    same = [e for e in previous if e.fingerprint == fingerprint]
    if same and _covers((e.part for e in same), file.size):
        return Decision(file, "skip", fingerprint, same[0])
    if same:  # some chunks landed before a crash: load the rest
        return Decision(file, "load", fingerprint, same[0], tuple(e.part for e in same))
    if previous:
        return Decision(file, "changed", fingerprint, previous[0])
    return Decision(file, "load", fingerprint)


def decide(
    files: Sequence[SourceFile],
    entries: dict[str, list[LoadedEntry]],
    *,
    always_hash: bool = False,
) -> tuple[list[Decision], list[SourceError]]:
    """Load, skip (already loaded, unchanged) or changed, for each file.

    A file whose size and modification time are those of a load is taken to be
    unchanged without hashing it (the stat shortcut), unless ``always_hash``
    (the source's ``"fingerprint": "content"``). The shortcut misses a change
    that keeps both (``cp -p``, ``touch -r``, ``rsync -t``).
    """
    decisions: dict[str, Decision] = {}
    to_hash: list[SourceFile] = []
    for file in files:
        previous = entries.get(file.path, [])
        same_stat = next(
            (e for e in previous if e.size == file.size and e.modified_ns == file.modified_ns),
            None,
        )
        if always_hash:
            same_stat = None
        if same_stat is not None:
            decisions[file.path] = _decision_for(file, same_stat.fingerprint, previous)
        else:
            to_hash.append(file)
    problems: list[SourceError] = []
    # A local file is hashed to its discovered size: the bytes its reader loads.
    local_sizes = {f.path: f.size for f in to_hash if f.origin is None and f.chunk is None}
    hashes = fingerprint_files([f.path for f in to_hash], local_sizes)
    for file in to_hash:
        result = hashes[file.path]
        if isinstance(result, SourceError):
            problems.append(result)
            continue
        decisions[file.path] = _decision_for(file, result, entries.get(file.path, []))
    ordered = [decisions[f.path] for f in files if f.path in decisions]
    return ordered, problems


# A unit's loaded row, or a group's rows in one statement: one array per column (the
# run's id is one value), sent in binary (psycopg quotes each element of a text array
# with a regex).
_INSERT_LOADED = """
    INSERT INTO pgingest.files
        (path, fingerprint, size, modified_ns, table_name, source, rows, rejected,
         status, stage, run_id, part)
    SELECT path, fingerprint, size, modified_ns, table_name, source, rows, rejected,
        'loaded', 'done', %s, part
    FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::text[], %b::text[],
        %b::bigint[], %b::bigint[], %b::text[])
        AS loaded (path, fingerprint, size, modified_ns, table_name, source, rows, rejected, part)
"""


@dataclass(frozen=True)
class LoadedRecord:
    """A unit's loaded row, to be written with its rows (see ``record_loaded_many``)."""

    decision: Decision
    table_name: str
    rows: int
    rejected: int


def _loaded_values(record: LoadedRecord) -> tuple[Any, ...]:
    """A loaded row's values, in _INSERT_LOADED's order of arrays."""
    file = record.decision.file
    return (
        file.path,
        record.decision.fingerprint,
        file.size,
        file.modified_ns,
        record.table_name,
        file.source,
        record.rows,
        record.rejected,
        file.part,
    )


def record_loaded(
    conn: psycopg.Connection[Any],
    *,
    decision: Decision,
    table_name: str,
    rows: int,
    rejected: int,
    run_id: uuid.UUID,
) -> None:
    """The loaded row of a unit; call inside the transaction that copied its rows."""
    record = LoadedRecord(decision, table_name, rows, rejected)
    record_loaded_many(conn, [record], run_id=run_id)


def record_loaded_many(
    conn: psycopg.Connection[Any], records: Sequence[LoadedRecord], *, run_id: uuid.UUID
) -> None:
    """The loaded rows of several units that land in one transaction: one row per unit.

    One statement over arrays of the rows' values: a group of files pays one
    round trip and one statement on the server for its manifest rows (issue 12:
    an INSERT per file, even pipelined, was ~0.1 ms of server and client time
    per 10-row file).
    """
    if not records:
        return
    columns = zip(*(_loaded_values(record) for record in records), strict=True)
    conn.execute(_INSERT_LOADED, [run_id, *(list(column) for column in columns)])


def overlaps_loaded(conn: psycopg.Connection[Any], *, decision: Decision, table_name: str) -> bool:
    """Whether loaded rows of the same file content already cover bytes of this unit.

    Two runs may cut one file into different chunks (another ``chunk_bytes``,
    or one loading it whole): their parts have other names, so the manifest's
    unique index cannot see that they overlap. Call just before
    ``record_loaded``: the lock makes units of one file check and record one at
    a time, and the check sees every overlapping unit that committed first.
    """
    file = decision.file
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (_parts_lock_key(decision, table_name),),
    )
    start, end = (file.chunk.start, file.chunk.end) if file.chunk else (0, file.size)
    rows = conn.execute(
        "SELECT part FROM pgingest.files WHERE table_name = %s AND path = %s "
        "AND fingerprint = %s AND status = 'loaded' AND part <> %s",
        (table_name, file.path, decision.fingerprint, file.part),
    ).fetchall()
    for (part,) in rows:
        other = part_range(part) or (0, file.size)
        if other[0] < end and start < other[1]:
            return True
    return False


def _parts_lock_key(decision: Decision, table_name: str) -> str:
    return f"pgingest parts {table_name} {decision.file.path} {decision.fingerprint}"


def overlaps_loaded_many(
    conn: psycopg.Connection[Any], units: Sequence[tuple[Decision, str]]
) -> list[Decision]:
    """``overlaps_loaded`` for several (decision, table name) units at once: those that overlap.

    The same locks, taken in one statement in a fixed order (so two runs locking
    sets of files never wait on each other in a cycle), and one query.
    """
    if not units:
        return []
    keys = sorted({_parts_lock_key(decision, table) for decision, table in units})
    conn.execute(
        "SELECT pg_advisory_xact_lock(h) FROM "
        "(SELECT hashtextextended(k, 0) AS h, k FROM unnest(%b::text[]) AS k ORDER BY k) AS keys",
        (keys,),
    )
    rows = conn.execute(
        "SELECT table_name, path, fingerprint, part FROM pgingest.files "
        "WHERE table_name = ANY(%b::text[]) AND path = ANY(%b::text[]) AND status = 'loaded'",
        (list({table for _, table in units}), list({d.file.path for d, _ in units})),
    ).fetchall()
    loaded: dict[tuple[str, str, str], list[str]] = {}
    for table, path, fingerprint, part in rows:
        loaded.setdefault((table, path, fingerprint), []).append(part)
    overlapping = []
    for decision, table in units:
        file = decision.file
        start, end = (file.chunk.start, file.chunk.end) if file.chunk else (0, file.size)
        for part in loaded.get((table, file.path, decision.fingerprint or ""), []):
            if part == file.part:
                continue
            other = part_range(part) or (0, file.size)
            if other[0] < end and start < other[1]:
                overlapping.append(decision)
                break
    return overlapping


def is_recorded(
    conn: psycopg.Connection[Any], *, decision: Decision, table_name: str, run_id: uuid.UUID
) -> bool:
    """Whether this run's loaded row of the unit is in the manifest (its transaction landed)."""
    file = decision.file
    row = conn.execute(
        "SELECT 1 FROM pgingest.files WHERE table_name = %s AND path = %s AND fingerprint = %s "
        "AND part = %s AND status = 'loaded' AND run_id = %s",
        (table_name, file.path, decision.fingerprint, file.part, run_id),
    ).fetchone()
    return row is not None


def mark_replaced(conn: psycopg.Connection[Any], *, table_name: str, path: str) -> None:
    """The file's earlier loads no longer count (its rows were replaced)."""
    conn.execute(
        "UPDATE pgingest.files SET status = 'replaced' "
        "WHERE table_name = %s AND path = %s AND status = 'loaded'",
        (table_name, path),
    )


def lock_for_replace(conn: psycopg.Connection[Any], *, table_name: str, path: str = "") -> None:
    """Wait for any other run replacing the same rows (a table, or one file's rows) to commit.

    Taken as a statement of its own before the DELETE, so the DELETE's snapshot
    sees what the other run committed: two runs replacing at once then load the
    rows once, one after the other, instead of both on top of each other.
    """
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"pgingest replace {table_name} {path}",),
    )


def loaded_rows(conn: psycopg.Connection[Any], *, table_name: str, path: str) -> int:
    """Rows the file's loads (every part) that still count inserted or updated in the table."""
    row = conn.execute(
        "SELECT coalesce(sum(rows), 0) FROM pgingest.files "
        "WHERE table_name = %s AND path = %s AND status = 'loaded'",
        (table_name, path),
    ).fetchone()
    return int(row[0]) if row else 0


def replace_table_manifest(conn: psycopg.Connection[Any], *, table_name: str) -> None:
    """Every earlier load of the table no longer counts (mode replace is emptying it)."""
    conn.execute(
        "UPDATE pgingest.files SET status = 'replaced' WHERE table_name = %s AND status = 'loaded'",
        (table_name,),
    )


def loaded_paths(conn: psycopg.Connection[Any], table_name: str) -> set[str]:
    """Paths with a loaded manifest row for the table."""
    rows = conn.execute(
        "SELECT DISTINCT path FROM pgingest.files WHERE table_name = %s AND status = 'loaded'",
        (table_name,),
    ).fetchall()
    return {row[0] for row in rows}


def record_failed(
    conn: psycopg.Connection[Any],
    *,
    path: str,
    fingerprint: str | None,
    table_name: str,
    source: str,
    stage: str,
    error: str,
    run_id: uuid.UUID,
    part: str = "",
) -> None:
    """A failed unit, for ``pgingest status`` and ``--retry-failed``; its rows never landed."""
    conn.execute(
        """
        INSERT INTO pgingest.files
            (path, fingerprint, table_name, source, status, stage, error, run_id, part)
        VALUES (%s, %s, %s, %s, 'failed', %s, %s, %s, %s)
        """,
        (path, fingerprint or "", table_name, source, stage, error, run_id, part),
    )
