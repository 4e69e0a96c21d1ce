"""How far into a file its reader has got, measured from outside the reader.

The readers stream through pyarrow, which does not say how many bytes it has
consumed. The kernel does: on Linux, ``/proc/self/fdinfo/N`` holds the offset
of every open file, so the offset of the descriptor open on a source file is
the bytes read so far (compressed bytes for a compressed file, which is what
its size counts too). pyarrow reads a little ahead of the rows it has handed
over (a few blocks), so the figure leads the rows slightly; for the large
files where progress matters that is well under one per cent.

Parquet is read with positioned reads that leave the offset alone; its footer
says how many rows it holds, so rows sent over rows in the file measure it.
Where neither works (another platform, a compressed Parquet file) the answer
is None and progress counts the file when it finishes.

A text file of at most UNPROBED_BYTES is not probed: its reader reads it into
memory at once (parse/csv.py, WHOLE_FILE_BYTES) and holds no descriptor on it,
so a probe would scan every descriptor of the process for nothing (~6 % of the
workers' time on 1,000 small files, issue 12); its rows say how far it is.
"""

from __future__ import annotations

import os
import threading

from pgingest.discover import SourceFile

__all__ = ["ReadPositionProbe", "bytes_to_read", "read_offset"]

_FD_FOLDER = "/proc/self/fd"
# Equal to parse/csv.py's WHOLE_FILE_BYTES (a test keeps them so); not imported, so
# that the progress display does not import the parsers and pyarrow.
UNPROBED_BYTES = 1 << 20
_FDINFO_FOLDER = "/proc/self/fdinfo"


def _offset_of(fd: str) -> int | None:
    try:
        with open(os.path.join(_FDINFO_FOLDER, fd), encoding="ascii") as handle:
            for line in handle:
                if line.startswith("pos:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _target(fd: str) -> str | None:
    try:
        return os.readlink(os.path.join(_FD_FOLDER, fd))
    except OSError:
        return None


def bytes_to_read(file: SourceFile) -> int:
    """The bytes a unit reads: its chunk's range, or the whole file."""
    if file.chunk is not None:
        return max(file.chunk.end - file.chunk.start, 0)
    return file.size


def read_offset(
    path: str, *, hint: str | None = None, within: tuple[int, int] | None = None
) -> tuple[int, str] | None:
    """The offset of a descriptor this process has open on ``path``, and that descriptor.

    ``within`` picks, among several readers of one file (its chunks), the one
    reading that byte range: the lowest offset inside it; otherwise the largest
    offset wins. ``hint`` is a descriptor found before: it is checked first, so
    a steady reader costs two small reads instead of a scan of every descriptor.
    """
    low, high = within if within is not None else (0, -1)

    def fits(offset: int) -> bool:
        return within is None or low <= offset <= high

    if hint is not None and _target(hint) == path:
        offset = _offset_of(hint)
        if offset is not None and fits(offset):
            return offset, hint
    try:
        descriptors = os.listdir(_FD_FOLDER)
    except OSError:
        return None
    best: tuple[int, str] | None = None
    for fd in descriptors:
        if _target(fd) != path:
            continue
        offset = _offset_of(fd)
        if offset is None or not fits(offset):
            continue
        if best is None or (offset < best[0] if within is not None else offset > best[0]):
            best = (offset, fd)
    return best


class ReadPositionProbe:
    """The fraction of a file its reader has consumed; safe to share between threads."""

    def __init__(self, *, unprobed_bytes: int = UNPROBED_BYTES) -> None:
        self._unprobed_bytes = unprobed_bytes  # files up to this size are not probed
        self._lock = threading.Lock()
        self._real_paths: dict[str, str] = {}
        self._descriptors: dict[str, str] = {}
        self._parquet_rows: dict[str, int | None] = {}

    def fraction(self, file: SourceFile, *, rows: int) -> float | None:
        """0..1 of ``file`` (or its chunk) read, ``rows`` of it sent; None when it cannot tell."""
        size = bytes_to_read(file)
        if size <= 0:
            return None
        if file.format == "parquet":
            total = self._rows_in_parquet(file)
            return None if not total else min(rows / total, 1.0)
        if file.chunk is None and size <= self._unprobed_bytes:
            return None
        real = self._real_path(file.path)
        start = file.chunk.start if file.chunk is not None else 0
        within = (start, file.chunk.end) if file.chunk is not None else None
        with self._lock:
            hint = self._descriptors.get(file.label)
        found = read_offset(real, hint=hint, within=within)
        if found is None:
            return None
        offset, fd = found
        with self._lock:
            self._descriptors[file.label] = fd
        return min(max(offset - start, 0) / size, 1.0)

    def forget(self, file: SourceFile) -> None:
        """The file is done: drop what was cached about it."""
        with self._lock:
            self._descriptors.pop(file.label, None)
            self._parquet_rows.pop(file.path, None)

    def _real_path(self, path: str) -> str:
        with self._lock:
            real = self._real_paths.get(path)
        if real is None:
            real = os.path.realpath(path)
            with self._lock:
                self._real_paths[path] = real
        return real

    def _rows_in_parquet(self, file: SourceFile) -> int | None:
        with self._lock:
            if file.path in self._parquet_rows:
                return self._parquet_rows[file.path]
        rows: int | None = None
        if file.compression is None and file.origin is None:
            import pyarrow.parquet as pq  # noqa: PLC0415 - only when a Parquet file is loading

            try:
                rows = int(pq.read_metadata(file.path).num_rows)
            except (OSError, ValueError):
                rows = None
        with self._lock:
            self._parquet_rows[file.path] = rows
        return rows
