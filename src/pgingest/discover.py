"""Glob patterns → the source files of each source, found in parallel.

Patterns support ``*``, ``**`` (any depth), ``?`` and ``[...]``, over local
folders and over object-store prefixes (``s3://bucket/logs/**/*.csv.gz``,
``gs://...``; a ``https://`` URL names one file). Several patterns per source
are expanded concurrently, de-duplicated and sorted. A pattern that matches
nothing is a warning; a plain path that does not exist, or a folder where a
file was expected, is a failed file with a clear reason. A zip archive is not
a file to load but a folder of them: each member is a file of its own, named
``archive.zip!/member.csv``. Remote objects and members are read from local
copies (see remote.py).
"""

from __future__ import annotations

import glob
import logging
import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pgingest.config import Config, Format, Limits, RetryPolicy, Source
from pgingest.errors import SourceError
from pgingest.remote import (
    Origin,
    RemoteEntry,
    is_remote,
    list_members,
    list_remote,
    local_copy,
    member_path,
    register_origin,
)

__all__ = [
    "COMPRESSION_SUFFIXES",
    "Chunk",
    "DiscoveredSource",
    "FoldedPath",
    "SourceFile",
    "detect_compression",
    "detect_format",
    "discover_files",
    "file_error",
    "fold_aliases",
    "part_range",
    "source_file_at",
]

logger = logging.getLogger(__name__)

COMPRESSION_SUFFIXES = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".bz2": "bz2",
    ".xz": "xz",
    ".zip": "zip",
}

FORMAT_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xlsb": "excel",
    ".xls": "excel",
    ".ods": "excel",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
    ".arrows": "ipc",
    ".orc": "orc",
    ".fwf": "fixed_width",
}

# Folders pgingest itself writes (the embedded database) never hold source files.
IGNORED_FOLDERS = {".pgingest"}

# Expanding patterns is I/O-bound (directory listings), so threads suffice;
# eight keeps a slow network file system busy without flooding it.
DISCOVERY_THREADS = 8


@dataclass(frozen=True)
class Chunk:
    """A byte range of a large file that loads as a unit of its own.

    It starts at a record boundary; ``first_line`` is the file line it starts on
    and ``header`` the file's column names (a chunk past the first has no header).
    """

    start: int
    end: int
    first_line: int
    header: tuple[str, ...]

    @property
    def part(self) -> str:
        """How the manifest names this part of the file."""
        return f"bytes {self.start}-{self.end}"


def part_range(part: str) -> tuple[int, int] | None:
    """(start, end) of a chunk's part name (``Chunk.part``), None for a whole file."""
    if not part.startswith("bytes "):
        return None
    start, _, end = part.removeprefix("bytes ").partition("-")
    return int(start), int(end)


@dataclass(frozen=True)
class SourceFile:
    """One file to load, as found on disk (or a chunk of one)."""

    path: str
    source: str
    format: Format
    compression: str | None
    size: int
    modified_ns: int
    chunk: Chunk | None = None
    origin: Origin | None = None  # where a remote object's or zip member's bytes come from
    # The source's settings.limits, given by open_reader; not part of the file's identity.
    limits: Limits = field(default_factory=Limits, compare=False)

    @property
    def name(self) -> str:
        """The file's base name, for messages and progress lines."""
        return os.path.basename(self.path)

    @property
    def part(self) -> str:
        """The manifest's name for what this unit loads: "" for a whole file."""
        return self.chunk.part if self.chunk is not None else ""

    @property
    def label(self) -> str:
        """The path, with the byte range of a chunk."""
        return f"{self.path} ({self.part})" if self.chunk is not None else self.path


@dataclass(frozen=True)
class DiscoveredSource:
    """What one source's patterns matched."""

    source: Source
    files: list[SourceFile]
    unmatched_patterns: list[str] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)
    folded: list[FoldedPath] = field(default_factory=list)  # aliases of a file kept once


@dataclass(frozen=True)
class FoldedPath:
    """A path that reaches a file already found by another path, so it is not loaded again."""

    path: str
    kept: str  # the path the file loads (and is named in the manifest) by
    reason: str


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None  # gone: the file fails with its own error later
    return info.st_dev, info.st_ino


def fold_aliases(files: list[SourceFile]) -> tuple[list[SourceFile], list[FoldedPath]]:
    """Local files reached by several paths (symlinks, hard links, aliases) kept once.

    Two paths are one file when they resolve to the same real path or the same
    (device, inode). The path kept is the file's real path when it was matched,
    else the first in sorted order; the others are reported as folded.
    """
    groups: dict[tuple[int, int] | str, list[SourceFile]] = {}
    for file in files:
        key = _identity(file.path) or os.path.realpath(file.path)
        groups.setdefault(key, []).append(file)
    kept: list[SourceFile] = []
    folded: list[FoldedPath] = []
    for group in groups.values():
        if len(group) == 1:  # no alias: nothing to resolve (realpath is ~20 µs a file)
            kept.append(group[0])
            continue
        real = {os.path.realpath(f.path) for f in group}
        chosen = next((f for f in group if f.path in real), group[0])
        kept.append(chosen)
        for other in group:
            if other is chosen:
                continue
            same_real = os.path.realpath(other.path) == os.path.realpath(chosen.path)
            reason = (
                f"resolves to {os.path.realpath(chosen.path)}"
                if same_real
                else "the same file (device and inode) as a hard link"
            )
            folded.append(FoldedPath(other.path, chosen.path, reason))
    return sorted(kept, key=lambda f: f.path), folded


def detect_compression(path: str) -> str | None:
    """The compression named by the file's last suffix (``.gz`` → gzip), or None."""
    _, suffix = os.path.splitext(path.lower())
    return COMPRESSION_SUFFIXES.get(suffix)


def detect_format(path: str, declared: Format | None = None) -> Format:
    """The format declared by the source, else the one its extension names."""
    if declared is not None:
        return declared
    stem = path.lower()
    if detect_compression(stem):
        stem, _ = os.path.splitext(stem)
    _, suffix = os.path.splitext(stem)
    found = FORMAT_SUFFIXES.get(suffix)
    if found is None:
        raise SourceError(
            f"cannot tell the format from the extension {suffix or '(none)'!r}",
            hint='set "format" on the source: csv, tsv, json, ndjson, parquet, excel, ipc, '
            "orc or fixed_width",
            path=path,
        )
    return found


def _has_magic(pattern: str) -> bool:
    return glob.has_magic(pattern)


@dataclass(frozen=True)
class _Matched:
    """What one pattern matched: local paths, or the objects of a remote listing."""

    local: list[str] = field(default_factory=list)
    remote: list[RemoteEntry] = field(default_factory=list)
    problem: SourceError | None = None

    @property
    def is_empty(self) -> bool:
        return not self.local and not self.remote and self.problem is None


def _expand(pattern: str, source: Source, retry: RetryPolicy) -> _Matched:
    if is_remote(pattern):
        try:
            entries = list_remote(pattern, storage_options=source.storage_options, retry=retry)
        except SourceError as exc:
            return _Matched(problem=exc)
        return _Matched(remote=entries)
    if not _has_magic(pattern):
        return _Matched(local=[pattern] if os.path.lexists(pattern) else [])
    matches = glob.glob(pattern, recursive=True)
    return _Matched(local=[m for m in matches if not IGNORED_FOLDERS.intersection(m.split(os.sep))])


def source_file_at(path: str, source_name: str = "", declared: Format | None = None) -> SourceFile:
    """A SourceFile for one known path (outside any source's discovery)."""
    info = os.stat(path)
    return SourceFile(
        path=os.path.abspath(path),
        source=source_name,
        format=detect_format(path, declared),
        compression=detect_compression(path),
        size=info.st_size,
        modified_ns=info.st_mtime_ns,
    )


def _compression_of(path: str, source: Source) -> str | None:
    return source.compression or detect_compression(path)


def _format_of(path: str, source: Source, compression: str | None) -> Format:
    # An archive is a folder of files, each with its own format (see _archive_members).
    if compression == "zip":
        return source.format or "csv"
    return detect_format(path, source.format)


def file_error(exc: OSError, path: str) -> SourceError:
    """An OSError met on a source file, said for people (a file deleted since discovery too)."""
    if isinstance(exc, FileNotFoundError):
        return SourceError(
            "file not found",
            hint="it was moved or deleted after the run found it; run again once it is back",
            path=path,
        )
    return SourceError(f"cannot read file: {exc.strerror or exc}", path=path)


def _stat_file(path: str, source: Source) -> SourceFile:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SourceError("file not found", path=path) from None
    except OSError as exc:
        raise file_error(exc, path) from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceError(
            "is a folder, not a file",
            hint="use a pattern such as folder/*.csv or folder/**/*.csv",
            path=path,
        )
    if not stat.S_ISREG(info.st_mode):  # /dev/zero never ends; a FIFO blocks its reader
        raise SourceError(
            "is not a regular file (a device, pipe or socket)",
            hint="copy the data to a file first",
            path=path,
        )
    compression = _compression_of(path, source)
    return SourceFile(
        path=path,
        source=source.name,
        format=_format_of(path, source, compression),
        compression=compression,
        size=info.st_size,
        modified_ns=info.st_mtime_ns,
    )


def _remote_file(entry: RemoteEntry, source: Source, retry: RetryPolicy) -> SourceFile:
    origin = Origin(
        entry.url,
        version=entry.version,
        size=entry.size or None,
        modified_ns=entry.modified_ns,
        retry=retry,
        storage_options=source.storage_options,
    )
    compression = _compression_of(entry.url, source)
    file = SourceFile(
        path=entry.url,
        source=source.name,
        format=_format_of(entry.url, source, compression),
        compression=compression,
        size=entry.size,
        modified_ns=entry.modified_ns,
        origin=origin,
    )
    register_origin(origin)
    return file


def _archive_members(
    archive: SourceFile, source: Source
) -> tuple[list[SourceFile], list[SourceError]]:
    """The files of a zip archive, each loading as a file of its own."""
    local = local_copy(archive.path, origin=archive.origin)
    container = archive.origin
    files: list[SourceFile] = []
    problems: list[SourceError] = []
    for member in list_members(archive.path, local, limits=source.limits):
        path = member_path(archive.path, member.filename)
        origin = Origin(
            container.location if container is not None else archive.path,
            member=member.filename,
            version=container.version if container is not None else None,
            modified_ns=archive.modified_ns,
            retry=container.retry if container is not None else RetryPolicy(),
            limits=source.limits,
            storage_options=source.storage_options,
        )
        try:
            file_format = detect_format(member.filename, source.format)
        except SourceError as exc:
            problems.append(exc.with_context(path=path))
            continue
        register_origin(origin)
        files.append(
            SourceFile(
                path=path,
                source=source.name,
                format=file_format,
                compression=detect_compression(member.filename),
                size=member.file_size,
                modified_ns=archive.modified_ns,
                origin=origin,
            )
        )
    return files, problems


def _collect(
    source: Source, patterns: list[str], expansions: list[_Matched], retry: RetryPolicy
) -> DiscoveredSource:
    unmatched: list[str] = []
    problems: list[SourceError] = []
    found: set[str] = set()
    remote: dict[str, RemoteEntry] = {}
    for pattern, matched in zip(patterns, expansions, strict=True):
        if matched.problem is not None:
            problems.append(matched.problem)
            continue
        if matched.is_empty:
            if _has_magic(pattern):
                unmatched.append(pattern)
                # Info, not warning: the run's summary (and report) warns of it once.
                logger.info("source %s: pattern %s matched no files", source.name, pattern)
            else:
                problems.append(SourceError("file not found", path=pattern))
            continue
        remote.update((entry.url, entry) for entry in matched.remote)
        for match in matched.local:
            if _has_magic(pattern) and os.path.isdir(match):
                continue  # a glob such as data/* may list folders; only files are sources
            found.add(os.path.abspath(match))
    files: list[SourceFile] = []
    for path in sorted(found):
        try:
            files.append(_stat_file(path, source))
        except SourceError as exc:
            problems.append(exc)
    files, folded = fold_aliases(files)
    for alias in folded:
        logger.info("source %s: %s is %s; loaded once", source.name, alias.path, alias.kept)
    for url in sorted(remote):
        try:
            files.append(_remote_file(remote[url], source, retry))
        except SourceError as exc:
            problems.append(exc)
    expanded: list[SourceFile] = []
    for file in files:
        if file.compression != "zip":
            expanded.append(file)
            continue
        try:
            members, member_problems = _archive_members(file, source)
        except SourceError as exc:
            problems.append(exc)
            continue
        expanded.extend(members)
        problems.extend(member_problems)
    return DiscoveredSource(
        source=source,
        files=expanded,
        unmatched_patterns=unmatched,
        problems=problems,
        folded=folded,
    )


def discover_files(
    config: Config, *, sources: Sequence[Source] | None = None
) -> list[DiscoveredSource]:
    """Expand every source's patterns, in parallel; one result per source, in config order."""
    chosen = list(sources if sources is not None else config.sources)
    retry = config.settings.retry.file
    patterns = [[config.resolve_pattern(p) for p in source.paths] for source in chosen]
    flat = [
        (pattern, source)
        for source, group in zip(chosen, patterns, strict=True)
        for pattern in group
    ]
    with ThreadPoolExecutor(DISCOVERY_THREADS, thread_name_prefix="pgingest-discover") as pool:
        expanded = iter(list(pool.map(lambda item: _expand(item[0], item[1], retry), flat)))
    return [
        _collect(source, group, [next(expanded) for _ in group], retry)
        for source, group in zip(chosen, patterns, strict=True)
    ]
