"""open_binary reads stored bytes without an Arrow round trip (issue 12), and reads them alike.

The reference is the earlier reader: Python over an Arrow stream over Python
(``_ArrowRaw(open_stream(file))``). Both read the same files, unchanged or
written to after discovery, whole or as a chunk, plain or compressed, in reads
of several sizes to the end; they must return the same bytes and fail with the
same error.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

import pytest

from pgingest.discover import Chunk, SourceFile
from pgingest.errors import PgIngestError
from pgingest.parse import stream
from pgingest.parse.stream import STREAM_BUFFER_BYTES, open_binary

CONTENT = b"id,v\n" + b"".join(b"%d,value-%010d\n" % (i, i) for i in range(200_000))


def _file_at(path: Path, compression: str | None = None) -> SourceFile:
    info = os.stat(path)
    return SourceFile(
        path=str(path),
        source="s",
        format="csv",
        compression=compression,
        size=info.st_size,
        modified_ns=info.st_mtime_ns,
    )


def _earlier_open_binary(file: SourceFile) -> IO[bytes]:
    return io.BufferedReader(stream._ArrowRaw(stream.open_stream(file)), STREAM_BUFFER_BYTES)


def _read_all(opener: Callable[[SourceFile], IO[bytes]], file: SourceFile, size: int) -> object:
    """The bytes read to the end (``size`` 0: by lines), or the error's type and message.

    The bytes handed out before an error differ (the earlier reader buffered more
    ahead of its caller); they are never more than the discovered bytes.
    """
    pieces = []
    try:
        with opener(file) as reader:
            while piece := (reader.readline() if size == 0 else reader.read(size)):
                pieces.append(piece)
    except (PgIngestError, OSError) as exc:
        assert len(b"".join(pieces)) <= file.size
        return (type(exc), str(exc))
    return b"".join(pieces)


def _grow(path: Path) -> None:
    with open(path, "ab") as handle:
        handle.write(b"2,value-")


def _shrink(path: Path) -> None:
    os.truncate(path, 1000)


def _touch(path: Path) -> None:
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


def _remove(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("change", [None, _grow, _shrink, _touch, _remove])
@pytest.mark.parametrize("content", [CONTENT, CONTENT[:100], b""])
def test_a_plain_file_reads_as_before(
    tmp_path: Path, change: Callable[[Path], None] | None, content: bytes
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    file = _file_at(path)
    if change is not None:
        change(path)
    for size in (0, 1, 7, 4096, STREAM_BUFFER_BYTES, -1):
        new = _read_all(open_binary, file, size)
        assert new == _read_all(_earlier_open_binary, file, size), (change, size)
    if change is None:
        assert _read_all(open_binary, file, -1) == content
    elif change is not _remove and content:
        assert isinstance(new, tuple)  # it failed: the file changed while it was read


def test_a_chunk_reads_its_range_as_before(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(CONTENT)
    whole = _file_at(path)
    for start, end in [(0, 5), (5, 2_000_000), (2_000_000, len(CONTENT)), (7, 7)]:
        file = replace(whole, chunk=Chunk(start, end, 1, ("id", "v")))
        for size in (0, 4096, -1):
            new = _read_all(open_binary, file, size)
            assert new == _read_all(_earlier_open_binary, file, size)
            assert new == CONTENT[start:end]
    _grow(path)
    file = replace(whole, chunk=Chunk(5, 2_000_000, 1, ("id", "v")))
    new = _read_all(open_binary, file, -1)
    assert isinstance(new, tuple)
    assert new == _read_all(_earlier_open_binary, file, -1)


def test_compressed_and_zipped_files_read_as_before(tmp_path: Path) -> None:
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(gzip.compress(CONTENT))
    zipped = tmp_path / "f.csv"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("inner.csv", CONTENT)
    for file in (_file_at(gz, "gzip"), _file_at(gz), _file_at(zipped)):
        for size in (0, 4096, -1):
            new = _read_all(open_binary, file, size)
            assert new == _read_all(_earlier_open_binary, file, size) == CONTENT


def test_stored_bytes_are_read_by_python_alone(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(CONTENT)
    with open_binary(_file_at(path)) as reader:
        assert isinstance(reader, io.BufferedReader)
        assert isinstance(reader.raw, stream._RangeRaw)


@pytest.mark.parametrize("change", [None, _grow, _shrink, _touch, _remove])
@pytest.mark.parametrize(
    "content",
    [CONTENT[:5000], b"", b"\x1f\x8bnot gzip at all", b"PK\x03\x04not a zip", b"BZh9 plain"],
)
@pytest.mark.parametrize("compression", [None, "none"])
def test_a_small_file_is_read_whole_as_the_general_path_reads_it(
    tmp_path: Path,
    content: bytes,
    change: Callable[[Path], None] | None,
    compression: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 12: a small local file is read with one open and two fstat calls; the
    # bytes (or None, where the general path then says what is wrong) are the same.
    path = tmp_path / "small.csv"
    path.write_bytes(content)
    file = replace(_file_at(path), compression=compression)
    if change is not None:
        change(path)
    found = stream.read_whole_if_small(file, 1 << 20)
    with monkeypatch.context() as patch:  # the general path alone (open_binary)
        patch.setattr(stream, "_read_plain_local", lambda file: None)
        assert found == stream.read_whole_if_small(file, 1 << 20)
    magic = (b"\x1f\x8b", b"PK\x03\x04", b"BZh")
    if change is None and (compression == "none" or not content.startswith(magic)):
        assert stream._read_plain_local(file) == content  # the fast path answered


def test_a_fifo_in_a_small_files_place_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    path.write_bytes(b"a,b\n1,2\n")
    file = _file_at(path)
    path.unlink()
    os.mkfifo(path)  # replaced since discovery: opening it to read would wait for a writer
    assert stream._read_plain_local(file) is None
