"""Glob patterns → the source files of each source, found in parallel.

Patterns support ``*``, ``**`` (any depth), ``?`` and ``[...]``. Several
patterns per source are expanded concurrently, de-duplicated and sorted. A
pattern that matches nothing is a warning; a plain path that does not exist,
or a folder where a file was expected, is a failed file with a clear reason.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pgingest.config import Config, Format, Source
from pgingest.errors import ConfigError, SourceError

__all__ = [
    "COMPRESSION_SUFFIXES",
    "Chunk",
    "DiscoveredSource",
    "SourceFile",
    "detect_compression",
    "detect_format",
    "discover_files",
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
            hint='set "format" on the source: csv, tsv, json, ndjson or parquet',
            path=path,
        )
    return found


def _has_magic(pattern: str) -> bool:
    return glob.has_magic(pattern)


def _expand(pattern: str) -> list[str]:
    if "://" in pattern:
        raise ConfigError(
            f"remote paths are not supported yet: {pattern}",
            hint="copy the files to a local folder, or mount the bucket",
        )
    if not _has_magic(pattern):
        return [pattern] if os.path.lexists(pattern) else []
    matches = glob.glob(pattern, recursive=True)
    return [m for m in matches if not IGNORED_FOLDERS.intersection(m.split(os.sep))]


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


def _stat_file(path: str, source: Source) -> SourceFile:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SourceError("file not found", path=path) from None
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror}", path=path) from None
    if os.path.isdir(path):
        raise SourceError(
            "is a folder, not a file",
            hint="use a pattern such as folder/*.csv or folder/**/*.csv",
            path=path,
        )
    return SourceFile(
        path=path,
        source=source.name,
        format=detect_format(path, source.format),
        compression=detect_compression(path),
        size=info.st_size,
        modified_ns=info.st_mtime_ns,
    )


def _collect(source: Source, patterns: list[str], expansions: list[list[str]]) -> DiscoveredSource:
    unmatched: list[str] = []
    problems: list[SourceError] = []
    found: set[str] = set()
    for pattern, matches in zip(patterns, expansions, strict=True):
        if not matches:
            if _has_magic(pattern):
                unmatched.append(pattern)
                logger.warning("source %s: pattern %s matched no files", source.name, pattern)
            else:
                problems.append(SourceError("file not found", path=pattern))
            continue
        for match in matches:
            if _has_magic(pattern) and os.path.isdir(match):
                continue  # a glob such as data/* may list folders; only files are sources
            found.add(os.path.abspath(match))
    files: list[SourceFile] = []
    for path in sorted(found):
        try:
            files.append(_stat_file(path, source))
        except SourceError as exc:
            problems.append(exc)
    return DiscoveredSource(
        source=source, files=files, unmatched_patterns=unmatched, problems=problems
    )


def discover_files(
    config: Config, *, sources: Sequence[Source] | None = None
) -> list[DiscoveredSource]:
    """Expand every source's patterns, in parallel; one result per source, in config order."""
    chosen = list(sources if sources is not None else config.sources)
    patterns = [[config.resolve_pattern(p) for p in source.paths] for source in chosen]
    flat = [pattern for group in patterns for pattern in group]
    with ThreadPoolExecutor(DISCOVERY_THREADS, thread_name_prefix="pgingest-discover") as pool:
        expanded = iter(list(pool.map(_expand, flat)))
    return [
        _collect(source, group, [next(expanded) for _ in group])
        for source, group in zip(chosen, patterns, strict=True)
    ]
