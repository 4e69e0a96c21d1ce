"""What a source's patterns match now, with each file's signature; and the folders to watch.

A lighter look than discover.py's: no zip archive is opened and no remote object
fetched, only names, sizes and modification times, since this runs every
interval. The files it finds are then loaded by the ordinary pipeline, which
discovers them again by their exact paths (see service.py).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
import time
from dataclasses import dataclass

from pgingest.config import Config, Source
from pgingest.remote import is_remote, list_remote
from pgingest.watch.settle import FileSignature

__all__ = [
    "ListedFile",
    "exact_pattern",
    "is_ignored",
    "list_source",
    "listed_file",
    "matches_pattern",
    "watched_folders",
]

# Folders pgingest itself writes (discover.IGNORED_FOLDERS) never hold source files.
IGNORED_FOLDERS = {".pgingest"}


@dataclass(frozen=True)
class ListedFile:
    """A file a source's patterns match, as it is now."""

    path: str
    signature: FileSignature
    age_seconds: float  # since its last modification, by the wall clock

    @property
    def is_remote(self) -> bool:
        """An object in a store (s3://, gs://) or on a web server."""
        return is_remote(self.path)


def is_ignored(path: str) -> bool:
    """Whether ``path`` lies in a folder pgingest itself writes (the embedded database)."""
    return bool(IGNORED_FOLDERS.intersection(path.split(os.sep)))


def _local_matches(pattern: str) -> list[str]:
    if not glob.has_magic(pattern):
        return [pattern] if os.path.lexists(pattern) else []
    return [m for m in glob.glob(pattern, recursive=True) if not is_ignored(m)]


def listed_file(path: str) -> ListedFile | None:
    """A local file as it is now; None when it is gone or not a regular file."""
    return _listed_local(path, time.time_ns())


def _listed_local(path: str, now_ns: int) -> ListedFile | None:
    try:
        info = os.stat(path)
    except OSError:
        return None  # gone since the listing, or unreadable: the next listing sees
    if not stat.S_ISREG(info.st_mode):
        return None
    return ListedFile(
        os.path.abspath(path),
        FileSignature(info.st_size, info.st_mtime_ns),
        (now_ns - info.st_mtime_ns) / 1e9,
    )


def list_source(config: Config, source: Source) -> list[ListedFile]:
    """The files ``source`` matches now (raises SourceError when a remote listing fails)."""
    now_ns = time.time_ns()
    found: dict[str, ListedFile] = {}
    for raw in source.paths:
        pattern = config.resolve_pattern(raw)
        if is_remote(pattern):
            for entry in list_remote(
                pattern, storage_options=source.storage_options, retry=config.settings.retry.file
            ):
                found[entry.url] = ListedFile(
                    entry.url,
                    FileSignature(entry.size, entry.modified_ns),
                    (now_ns - entry.modified_ns) / 1e9,
                )
            continue
        for match in _local_matches(pattern):
            listed = _listed_local(match, now_ns)
            if listed is not None:
                found[listed.path] = listed
    return [found[path] for path in sorted(found)]


def exact_pattern(path: str) -> str:
    """A pattern matching exactly ``path`` (a local name with * ? [ in it is escaped)."""
    return path if is_remote(path) else glob.escape(path)


def watched_folders(config: Config) -> list[str]:
    """The existing folders whose events can reveal a local source's new files.

    For each local pattern, the folder before its first wildcard, watched with
    everything below it. A folder that does not exist (yet) is not watched: its
    files are found by the listing every interval (watching its nearest existing
    parent could mean following a whole disk).
    """
    folders: set[str] = set()
    for source in config.sources:
        for raw in source.paths:
            pattern = config.resolve_pattern(raw)
            if is_remote(pattern):
                continue
            parts = pattern.split(os.sep)
            first_wild = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts) - 1)
            folder = os.sep.join(parts[:first_wild]) or os.sep
            if os.path.isdir(folder):
                folders.add(folder)
    # A folder inside another watched one adds nothing (watches are recursive).
    ordered = sorted(folders)
    return [
        f
        for f in ordered
        if not any(f != other and f.startswith(other.rstrip(os.sep) + os.sep) for other in ordered)
    ]


def _match_parts(pattern: list[str], path: list[str]) -> bool:
    """glob.glob's rules over path components: wildcards never match a leading dot, and
    ``**`` matches any number of folders (hidden ones excepted)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        for skip in range(len(path) + 1):
            if _match_parts(rest, path[skip:]):
                return True
            if skip < len(path) and path[skip].startswith("."):
                return False
        return False
    if not path:
        return False
    name = path[0]
    if glob.has_magic(head):
        if name.startswith(".") and not head.startswith("."):
            return False
        if not fnmatch.fnmatchcase(name, head):
            return False
    elif name != head:
        return False
    return _match_parts(rest, path[1:])


def matches_pattern(pattern: str, path: str) -> bool:
    """Whether glob.glob(pattern, recursive=True) would list the local ``path``.

    Lets an event's path be checked against a source without listing its folder.
    """
    if is_ignored(path):
        return False
    return _match_parts(os.path.abspath(pattern).split(os.sep), os.path.abspath(path).split(os.sep))
