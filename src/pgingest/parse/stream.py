"""Opening a source file as a byte stream, decompressed by its extension or its first bytes.

A remote object or zip member is opened from its local copy (remote.py). Text
in another encoding than UTF-8 is transcoded here, so the parsers always read
UTF-8 and an undecodable byte is reported with its file offset and line. A
file without a declared encoding is UTF-8 unless a byte-order mark says
UTF-16 or UTF-32.
"""

from __future__ import annotations

import codecs
import io
import lzma
import os
import shutil
import stat
import tempfile
import zipfile
from typing import IO, Any

import pyarrow as pa

from pgingest.decompression import DecompressionGuard, check_compression_ratio
from pgingest.discover import SourceFile
from pgingest.errors import ParseError, PgIngestError, SourceError
from pgingest.remote import local_copy, temporary_folder

__all__ = [
    "local_path",
    "open_binary",
    "open_seekable",
    "open_stream",
    "open_utf8_binary",
    "open_utf8_stream",
    "printable",
    "read_whole_if_small",
    "sniff_compression",
    "source_error",
]

# Magic numbers of the compressed formats pgingest reads (RFC 1952, bzip2, xz, zstd).
_MAGIC = [
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]
# A zip archive behind another name (a .csv that is really a .zip); checked only for
# text formats, since an .xlsx or .ods file is itself a zip archive.
_ZIP_MAGIC = b"PK\x03\x04"

_ARROW_CODECS = {"gzip", "bz2", "zstd"}

# Read-ahead buffer between the file and the decompressor or parser; 1 MiB keeps
# system calls rare without holding much per open file.
STREAM_BUFFER_BYTES = 1 << 20
# Compressed bytes are read ahead of the decompressor in pieces this small, so that
# the bytes read say how much it consumed: a bomb's ratio shows early (Arrow's
# decompressing stream itself reads 64 KiB at a time).
COMPRESSED_READ_BYTES = 64 << 10


def sniff_compression(path: str, *, allow_zip: bool = False) -> str | None:
    """The compression a file's first bytes announce, or None for plain data (or a non-file)."""
    if not os.path.isfile(path):
        return None  # a device or pipe is refused when opened; reading it here could block
    with open(path, "rb") as handle:
        head = handle.read(8)
    return _announced_compression(head, allow_zip=allow_zip)


def _announced_compression(head: bytes, *, allow_zip: bool) -> str | None:
    """The compression whose magic number ``head`` starts with, or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if allow_zip and head.startswith(_ZIP_MAGIC):
        return "zip"
    return None


def printable(text: str) -> str:
    """Text quoted from a file, safe in a message: PostgreSQL's text and jsonb refuse NUL."""
    return text.replace("\x00", "\\x00")


def local_path(file: SourceFile) -> str:
    """The local file holding ``file``'s bytes (a remote object's or zip member's copy)."""
    return local_copy(file.path, origin=file.origin)


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
    text = printable(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
    transient = isinstance(exc, (TimeoutError, ConnectionError, InterruptedError))
    return SourceError(f"cannot {action} file: {text}", path=file.path, is_transient=transient)


def _compression(file: SourceFile, path: str, *, allow_zip: bool = False) -> str | None:
    if file.compression == "none":
        return None
    return file.compression or sniff_compression(path, allow_zip=allow_zip)


def _only_member(file: SourceFile, path: str) -> IO[bytes]:
    """The one member of a zip archive found behind another name."""
    # Not closed here: the member's reader shares the archive's file and keeps it open.
    archive = zipfile.ZipFile(path)
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        archive.close()
        raise SourceError(
            f"is a zip archive of {len(members)} files",
            hint="name it .zip (each member then loads as a file), or extract it",
            path=file.path,
        )
    member = members[0]
    try:
        check_compression_ratio(member.file_size, member.compress_size, file.limits, path=file.path)
    except SourceError:
        archive.close()
        raise
    return archive.open(member)


class _RangeRaw(io.RawIOBase):
    """The bytes of a file from ``start`` to ``end`` (a chunk, or the whole file), read forward.

    A local file is read to the size it had when it was discovered and
    fingerprinted, never further, and at the end its size and modification time
    must still be those: a file written to while it is read fails instead of
    loading other bytes than the manifest describes, or a half-written last row.
    """

    def __init__(self, path: str, start: int, end: int, *, file: SourceFile | None = None) -> None:
        super().__init__()
        self._handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._handle.seek(start)
        self._left = end - start
        self._file = file  # checked for changes at the end (a local file)
        self.consumed = 0  # bytes read so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            self._check_unchanged()
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        size = self._handle.readinto(view)
        if not size:
            self._check_unchanged()  # shorter than discovered
        self._left -= size
        self.consumed += size
        return size

    def _check_unchanged(self) -> None:
        file = self._file
        if file is None:
            return
        info = os.fstat(self._handle.fileno())
        if not _as_found(file, info):
            raise SourceError(
                f"the file changed while it was read ({file.size:,} bytes when it was found, "
                f"{info.st_size:,} now); none of it was loaded",
                hint="load it once it is complete: the next run reads it again",
                path=file.path,
            )

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


def _require_regular(path: str, file: SourceFile) -> None:
    """A device or FIFO never ends (/dev/zero) or blocks (a pipe): only regular files load."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise source_error(exc, file, "open") from exc
    if stat.S_ISDIR(info.st_mode):
        raise SourceError("is a folder, not a file", path=file.path)
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(
            "is not a regular file (a device, pipe or socket)",
            hint="copy the data to a file first",
            path=file.path,
        )


def _raw_bytes(file: SourceFile, path: str) -> _RangeRaw:
    """The stored bytes pgingest loads: a chunk's range, or the whole file as fingerprinted."""
    _require_regular(path, file)
    is_local = file.origin is None  # a fetched copy is private and does not change
    if file.chunk is not None:
        return _RangeRaw(path, file.chunk.start, file.chunk.end, file=file if is_local else None)
    if is_local:
        return _RangeRaw(path, 0, file.size, file=file)
    return _RangeRaw(path, 0, os.path.getsize(path))


def _decompressed(file: SourceFile, path: str, compression: str) -> io.RawIOBase:
    """The decompressed bytes of a compressed file, within the decompression limits."""
    raw = _raw_bytes(file, path)
    buffered = io.BufferedReader(raw, COMPRESSED_READ_BYTES)
    decompressor: Any
    if compression == "xz":
        decompressor = lzma.open(buffered, "rb")  # noqa: SIM115 - closed by the guard
    else:
        decompressor = pa.CompressedInputStream(pa.PythonFile(buffered, mode="r"), compression)
    return DecompressionGuard(decompressor, lambda: raw.consumed, file.limits, path=file.path)


def _open_source(file: SourceFile) -> tuple[IO[bytes] | io.RawIOBase, bool]:
    """The file's (decompressed) bytes, or its chunk's, as a Python file.

    And whether they are the bytes as stored (no archive, no decompression):
    then it is a buffered reader over ``_RangeRaw``, with its bounds and checks.
    """
    path = local_path(file)
    try:
        if file.chunk is not None:
            return io.BufferedReader(_raw_bytes(file, path), STREAM_BUFFER_BYTES), True
        _require_regular(path, file)
        compression = _compression(file, path, allow_zip=True)
        if compression == "zip":
            return _only_member(file, path), False
        if compression is not None:
            return _decompressed(file, path, compression), False
        return io.BufferedReader(_raw_bytes(file, path), STREAM_BUFFER_BYTES), True
    except zipfile.BadZipFile as exc:
        raise SourceError(f"not a readable zip archive: {exc}", path=file.path) from exc
    except (OSError, pa.ArrowException) as exc:
        raise source_error(exc, file, "open") from exc


def open_stream(file: SourceFile) -> pa.NativeFile:
    """A forward-only Arrow stream of the file's (decompressed) bytes, or of its chunk."""
    source, _ = _open_source(file)
    return pa.PythonFile(source, mode="r")


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
    source, is_stored = _open_source(file)
    if is_stored:
        # The stored bytes are read by Python directly (issue 12: the Arrow round trip,
        # _ArrowRaw.readinto, took ~0.74 s of worker time on a 2M-row CSV load).
        assert isinstance(source, io.BufferedReader)
        return source
    return io.BufferedReader(_ArrowRaw(pa.PythonFile(source, mode="r")), STREAM_BUFFER_BYTES)


def read_whole_if_small(file: SourceFile, limit: int) -> bytes | None:
    """The whole file's decompressed bytes when they are at most ``limit``, else None.

    For small files (issue 12): their readers then sniff, detect, parse the
    header and the rows from these bytes instead of opening the file four
    times. None too for a chunk, or when the file cannot be read here: the
    ordinary path then reads it and says what is wrong in its own words (a
    remote object that cannot be fetched fails here, as it would there).
    """
    if file.chunk is not None or file.size > limit:
        return None
    is_plain = file.compression in (None, "none") and file.origin is None
    if local_path(file) == file.path and is_plain:  # (a remote object's fetch fails here)
        stored = _read_plain_local(file)
        if stored is not None:
            return stored
    try:
        with open_binary(file) as raw:
            content = raw.read(limit + 1)
            if len(content) > limit or raw.read(1):
                return None
    except (PgIngestError, OSError, pa.ArrowException):
        return None
    return content


# Opening to read a small file whole (os flags absent on a platform count as 0).
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _read_plain_local(file: SourceFile) -> bytes | None:
    """A local uncompressed file's bytes, with one open and two fstat calls (issue 12: the
    general path's three opens and three stats were ~0.17 ms of a 400-row file).

    The bytes are the ones the general path reads (the fingerprinted size, from a
    regular file unchanged since discovery). None, for anything else (another
    kind of file, a compressed one, a change): the general path reads it then,
    and says what is wrong in its own words.
    """
    try:
        # O_NONBLOCK: a FIFO put in the file's place since discovery must not block the open.
        fd = os.open(file.path, _READ_FLAGS)
    except OSError:
        return None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or not _as_found(file, before):
            return None
        pieces, left = [], file.size
        while left > 0 and (piece := os.read(fd, left)):
            pieces.append(piece)
            left -= len(piece)
        if left or not _as_found(file, os.fstat(fd)):
            return None
    except OSError:
        return None
    finally:
        os.close(fd)
    content = b"".join(pieces)
    if file.compression is None and _announced_compression(content[:8], allow_zip=True):
        return None
    return content


def _as_found(file: SourceFile, info: os.stat_result) -> bool:
    return info.st_size == file.size and info.st_mtime_ns == file.modified_ns


def open_seekable(file: SourceFile) -> tuple[str, bool]:
    """A local path of the file's decompressed bytes (Parquet needs to seek).

    Returns (path, is_temporary); a compressed file is decompressed to a
    temporary file that the caller removes.
    """
    path = local_path(file)
    if _compression(file, path) is None:
        return path, False
    handle, temporary = tempfile.mkstemp(prefix="decompressed-", dir=temporary_folder())
    try:
        with os.fdopen(handle, "wb") as target, open_binary(file) as source:
            shutil.copyfileobj(source, target, STREAM_BUFFER_BYTES)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary, True


class _Utf8Transcoder(io.RawIOBase):
    """Text in another encoding as UTF-8 bytes; an undecodable byte fails with its offset."""

    def __init__(self, source: IO[bytes], encoding: str, file: SourceFile) -> None:
        super().__init__()
        self._source = source
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._encoding = encoding
        self._file = file
        self._pending = b""
        self._consumed = 0  # source bytes decoded so far
        self._lines = 0  # newlines decoded so far
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._pending and not self._done:
            block = self._source.read(STREAM_BUFFER_BYTES)
            self._done = not block
            try:
                text = self._decoder.decode(block, final=self._done)
            except UnicodeDecodeError as exc:
                raise self._error(exc, block) from exc
            self._consumed += len(block)
            self._lines += text.count("\n")
            self._pending = text.encode("utf-8")

    def _error(self, exc: UnicodeDecodeError, block: bytes) -> ParseError:
        # The decoder saw the bytes it held back from the last block, then this one.
        data = bytes(exc.object)
        held = len(data) - len(block)
        start = max(exc.start, 0)
        offset = self._consumed - held + start
        try:
            lines = self._lines + data[:start].decode(self._encoding, "replace").count("\n")
        except LookupError:  # pragma: no cover - the codec was looked up before
            lines = self._lines
        return ParseError(
            f"cannot decode the file as {self._encoding}: {exc.reason} at byte offset {offset:,}",
            hint='set "encoding" on the source to the file\'s, e.g. "latin-1" or "cp1252"',
            path=self._file.path,
            line=lines + 1,
        )

    def readinto(self, buffer: Any) -> int:
        self._fill()
        size = min(len(buffer), len(self._pending))
        memoryview(buffer)[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def open_utf8_binary(file: SourceFile, encoding: str) -> IO[bytes]:
    """The file's (decompressed) text as UTF-8 bytes, for Python readers."""
    if _is_utf8(encoding):
        return open_binary(file)
    return io.BufferedReader(
        _Utf8Transcoder(open_binary(file), encoding, file), STREAM_BUFFER_BYTES
    )


def open_utf8_stream(file: SourceFile, encoding: str) -> pa.NativeFile:
    """The file's (decompressed) text as a UTF-8 Arrow stream, for pyarrow's readers."""
    if _is_utf8(encoding):
        return open_stream(file)
    return pa.PythonFile(open_utf8_binary(file, encoding), mode="r")
