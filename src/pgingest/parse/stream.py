"""Opening a source file as a byte stream, decompressed by its extension or its first bytes."""

from __future__ import annotations

import io
import lzma
import os
import shutil
import tempfile
from typing import IO, Any

import pyarrow as pa

from pgingest.discover import SourceFile
from pgingest.errors import SourceError

__all__ = ["open_binary", "open_seekable", "open_stream", "sniff_compression", "source_error"]

# Magic numbers of the compressed formats pgingest reads (RFC 1952, bzip2, xz, zstd).
_MAGIC = [
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]
_ARROW_CODECS = {"gzip", "bz2", "zstd"}

# Read-ahead buffer between the file and the decompressor or parser; 1 MiB keeps
# system calls rare without holding much per open file.
STREAM_BUFFER_BYTES = 1 << 20


def sniff_compression(path: str) -> str | None:
    """The compression a file's first bytes announce, or None for plain data."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def source_error(exc: BaseException, file: SourceFile, action: str = "read") -> SourceError:
    """An OSError or Arrow I/O error while opening or reading ``file``, said for people."""
    if isinstance(exc, FileNotFoundError):
        return SourceError("file not found (it was removed after discovery)", path=file.path)
    if isinstance(exc, PermissionError):
        return SourceError(
            "permission denied", hint="make the file readable by this user", path=file.path
        )
    if isinstance(exc, IsADirectoryError):
        return SourceError("is a folder, not a file", path=file.path)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    transient = isinstance(exc, (TimeoutError, ConnectionError, InterruptedError))
    return SourceError(f"cannot {action} file: {text}", path=file.path, is_transient=transient)


def _compression(file: SourceFile) -> str | None:
    return file.compression or sniff_compression(file.path)


class _RangeRaw(io.RawIOBase):
    """The bytes of a file from ``start`` to ``end`` (a chunk), read forward."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._handle.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        size = self._handle.readinto(view)
        self._left -= size
        return size

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


def open_stream(file: SourceFile) -> pa.NativeFile:
    """A forward-only Arrow stream of the file's (decompressed) bytes, or of its chunk."""
    try:
        if file.chunk is not None:
            chunk = file.chunk
            raw_range = io.BufferedReader(
                _RangeRaw(file.path, chunk.start, chunk.end), STREAM_BUFFER_BYTES
            )
            return pa.PythonFile(raw_range, mode="r")
        compression = _compression(file)
        if compression == "xz":
            return pa.PythonFile(lzma.open(file.path, "rb"), mode="r")
        raw = pa.OSFile(file.path, mode="r")
        if compression in _ARROW_CODECS:
            return pa.CompressedInputStream(raw, compression)
        return pa.BufferedInputStream(raw, STREAM_BUFFER_BYTES)
    except (OSError, pa.ArrowException) as exc:
        raise source_error(exc, file, "open") from exc


class _ArrowRaw(io.RawIOBase):
    """A Python raw binary file over an Arrow stream (for ijson and the csv module)."""

    def __init__(self, stream: pa.NativeFile) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def open_binary(file: SourceFile) -> IO[bytes]:
    """A Python binary file of the file's decompressed bytes."""
    return io.BufferedReader(_ArrowRaw(open_stream(file)), STREAM_BUFFER_BYTES)


def open_seekable(file: SourceFile) -> tuple[str, bool]:
    """A local path of the file's decompressed bytes (Parquet needs to seek).

    Returns (path, is_temporary); a compressed file is decompressed to a
    temporary file that the caller removes.
    """
    if _compression(file) is None:
        return file.path, False
    handle, temporary = tempfile.mkstemp(prefix="pgingest-", suffix=".parquet")
    try:
        with os.fdopen(handle, "wb") as target, open_binary(file) as source:
            shutil.copyfileobj(source, target, STREAM_BUFFER_BYTES)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary, True
