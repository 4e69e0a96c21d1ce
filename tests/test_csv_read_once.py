"""A small CSV file is read once (issue 12): the same names, rows, errors as when streamed."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import pytest

from pgingest.config import CsvOptions
from pgingest.discover import Chunk, SourceFile
from pgingest.errors import PgIngestError
from pgingest.parse import ColumnRead, ReadPlan
from pgingest.parse import csv as csv_module
from pgingest.parse import encoding as encoding_module
from pgingest.parse.csv import WHOLE_FILE_BYTES, CsvReader
from pgingest.parse.stream import read_whole_if_small
from pgingest.report.position import UNPROBED_BYTES, ReadPositionProbe

CASES: dict[str, tuple[bytes, bool]] = {
    "plain": (b"id,name\n1,a\n2,b\n", False),
    "crlf": (b"id,name\r\n1,a\r\n2,\r\n", False),
    "utf-8 bom": (b"\xef\xbb\xbfid,name\n1,a\n", False),
    "quoted newline in the header": (b'"i\nd",name\n1,a\n', False),
    "quoted delimiter in the header": (b'"a,b",c\n1,2\n', False),
    "quoted header": (b'"id","name"\n1,"a"\n', False),
    "quoted header, crlf": (b'id,"name"\r\n1,"a"\r\n', False),
    "quoted empty name": (b'"",b\n1,2\n', False),
    "doubled quote in the header": (b'"i""d",b\n1,2\n', False),
    "quote in mid-field in the header": (b'i"d",b\n1,2\n', False),
    "quote then text in the header": (b'"i"d,b\n1,2\n', False),
    "a lone quote in the header": (b'",b\n1,2\n', False),
    "space before a quoted name": (b' "id",b\n1,2\n', False),
    "quotes in a tsv header": (b'"id"\tb\n1\t2\n', True),
    "quoted empty and unquoted empty": (b'id,name\n1,""\n2,\n', False),
    "blank first line": (b"\nid,name\n1,a\n", False),
    "blank first line, crlf": (b"\r\nid,name\r\n1,a\r\n", False),
    "cr line ends": (b"id,name\r1,a\r2,b\r", False),
    "cr line ends, then a line feed": (b"id,name\r1,a\r2,b\n3,c\n", False),
    "header only, no final line break": (b"id,name", False),
    "header only": (b"id,name\n", False),
    "no final line break": (b"id,name\n1,a", False),
    "semicolons": (b"id;name\n1;a;\n2;b\n", False),
    "quote in mid-field": (b'id,name\n1,a"b"c\n2,"d"\n', False),
    "doubled quote in a value": (b'id,name\n1,"a""b"\n2,c\n', False),
    "every field quoted": (b'"id","name"\n"1","a"\n"2",""\n', False),
    "ragged rows": (b"id,name\n1\n2,b,c\n3,d\n", False),
    "not utf-8": (b"id,name\n1,caf\xe9\n2,na\xefve\n", False),
    "a stray invalid byte": (b"id,name\n1,\xc3\xa9t\xc3\xa9\n2,\xff\n3,\xc3\xa0\n", False),
    "invalid utf-8 in the header": (b"i\xffd,name\n1,a\n", False),
    "utf-16": ("id,name\n1,é\n".encode("utf-16"), False),
    "a name twice": (b"id,id\n1,2\n", False),
    "a name missing": (b"id,\n1,2\n", False),
    "one column, blank lines": (b"v\na\n\nb\n", False),
    "unterminated quote": (b'id,name\n1,"abc\n', False),
    "empty": (b"", False),
    "tsv escapes": (b"id\tna\\tme\n1\ta\\nb\n2\t\\N\n", True),
    "tsv blank first line": (b"\nid\tname\n1\ta\n", True),
}


def _file(path: Path) -> SourceFile:
    stat = path.stat()
    return SourceFile(
        str(path),
        "s",
        "tsv" if path.suffix == ".tsv" else "csv",
        None,
        stat.st_size,
        stat.st_mtime_ns,
    )


def _outcome(path: Path, *, careful: bool) -> Any:
    """Everything a reader says of a file: names, dialect, encoding, rows, lines; or its error."""
    file = _file(path)
    reader = CsvReader(file, CsvOptions(), is_tsv=file.format == "tsv")
    try:
        names = reader.column_names()
        plan = ReadPlan(tuple(ColumnRead(name) for name in names), 1000, careful=careful)
        batches = [
            (
                batch.data.to_pylist(),
                batch.first_record,
                None if batch.records is None else batch.records.tolist(),
                batch.skipped,
            )
            for batch in reader.read(plan)
        ]
        return (
            names,
            reader.dialect,
            reader.text_encoding,
            batches,
            reader.locate(range(5)),
            [(column.name, column.values) for column in reader.sample(10)],
        )
    except PgIngestError as exc:
        return type(exc).__name__, str(exc).replace(str(path.parent), "FOLDER")


@pytest.mark.parametrize("careful", [False, True], ids=["fast", "careful"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_small_file_reads_as_a_streamed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, careful: bool
) -> None:
    content, is_tsv = CASES[case]
    name = "data.tsv" if is_tsv else "data.csv"
    (tmp_path / "whole").mkdir()
    (tmp_path / "streamed").mkdir()
    (tmp_path / "whole" / name).write_bytes(content)
    (tmp_path / "streamed" / name).write_bytes(content)
    whole = _outcome(tmp_path / "whole" / name, careful=careful)
    monkeypatch.setattr(csv_module, "WHOLE_FILE_BYTES", 0)
    streamed = _outcome(tmp_path / "streamed" / name, careful=careful)
    assert whole == streamed


def test_a_small_file_is_opened_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b'id;name\n1;"a;b"\n2;c\n')

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the file was opened again")

    monkeypatch.setattr(csv_module, "open_utf8_stream", refuse)
    monkeypatch.setattr(csv_module, "open_utf8_binary", refuse)
    monkeypatch.setattr(encoding_module, "open_binary", refuse)
    reader = CsvReader(_file(path), CsvOptions())
    assert reader.column_names() == ["id", "name"]
    assert reader.delimiter == ";"
    assert reader.encoding == "utf-8"
    plan = ReadPlan((ColumnRead("id"), ColumnRead("name")), 1000)
    rows = [row for batch in reader.read(plan) for row in batch.data.to_pylist()]
    assert rows == [{"id": "1", "name": "a;b"}, {"id": "2", "name": "c"}]
    assert reader.locate([1])[1].line == 3


def test_only_a_whole_small_file_is_read_into_memory(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(b"id\n1\n")
    assert read_whole_if_small(_file(small), 100) == b"id\n1\n"
    assert read_whole_if_small(_file(small), 4) is None  # larger than the limit
    chunk = Chunk(0, 3, 1, ("id",))
    stat = small.stat()
    chunked = SourceFile(str(small), "s", "csv", None, stat.st_size, stat.st_mtime_ns, chunk)
    assert read_whole_if_small(chunked, 100) is None
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(b"id\n" + b"1\n" * 1000))
    stat = packed.stat()
    compressed = SourceFile(str(packed), "s", "csv", "gzip", stat.st_size, stat.st_mtime_ns)
    assert read_whole_if_small(compressed, 100) is None  # small on disk, not once decompressed
    assert read_whole_if_small(compressed, 10_000) == b"id\n" + b"1\n" * 1000
    missing = SourceFile(str(tmp_path / "gone.csv"), "s", "csv", None, 5, 0)
    assert read_whole_if_small(missing, 100) is None  # the ordinary read says what is wrong


def test_a_file_that_changed_since_discovery_is_not_read_from_memory(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"id\n1\n")
    file = _file(path)
    path.write_bytes(b"id\n1\n2\n")  # written to after it was found and fingerprinted
    assert read_whole_if_small(file, 100) is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fdinfo"), reason="needs Linux /proc")
def test_a_small_file_is_not_probed_for_its_read_position(tmp_path: Path) -> None:
    assert UNPROBED_BYTES == WHOLE_FILE_BYTES  # the files read into memory at once
    path = tmp_path / "data.csv"
    path.write_bytes(b"x" * 10_000)
    file = _file(path)
    with open(path, "rb", buffering=0) as handle:
        handle.read(2500)
        assert ReadPositionProbe().fraction(file, rows=0) is None
        assert ReadPositionProbe(unprobed_bytes=100).fraction(file, rows=0) == pytest.approx(0.25)
