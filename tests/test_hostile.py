"""Hostile inputs: each a clear error or an exact load, in bounded memory, leaving nothing behind.

Every run is ``pgingest run`` in a child process under an address-space cap,
so a runaway allocation fails here instead of taking the machine; the child's
peak RSS is read with ``os.wait4``. Inputs are made at test time and are small
on disk: compression bombs repeat one compressed block (gzip members, or deflate
blocks ended by a full flush, which any decoder reads as one stream).
Many inputs share one run, as a user's run would: one bad file fails, the rest load.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from pgingest.config import Limits, parse_config
from pgingest.discover import SourceFile, source_file_at
from pgingest.errors import SourceError
from pgingest.parse.stream import open_binary
from pgingest.pipeline import RunOptions, run
from pgingest.report.reporter import NullReporter
from pgingest.store.manifest import fingerprint_file

# The child's address space: pyarrow and numpy reserve far more than they touch.
ADDRESS_SPACE_CAP = 3 << 30
# What issue 17 asks of every input: peak resident memory under 300 MB.
PEAK_RSS_LIMIT = 300 << 20
RUN_TIMEOUT_SECONDS = 300
MIB = 1 << 20
# Two workers whatever the machine: peak memory grows with the files loaded at once.
_SETTINGS: dict[str, Any] = {"workers": 2, "connections": 2, "retry": {"file": {"attempts": 1}}}


# --- making hostile files -----------------------------------------------------------------


def _deflate_repeated(prefix: bytes, block: bytes, times: int, suffix: bytes) -> tuple[bytes, int]:
    """A raw deflate stream of prefix + block * times + suffix, and that content's CRC-32."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(suffix) + compressor.flush()
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    return head + middle * times + tail, zlib.crc32(suffix, crc)


def _write_zip(path: Path, members: Iterable[tuple[str, bytes, int, int]]) -> None:
    """A zip archive of already-deflated members: (name, deflated, size, crc)."""
    local, central = bytearray(), bytearray()
    count = 0
    for name, deflated, size, crc in members:
        encoded = name.encode()
        offset = len(local)
        fields = (20, 0, 8, 0, 0x21, crc, len(deflated), size, len(encoded))
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + encoded + deflated
        central += (
            struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, offset)
            + encoded
        )
        count += 1
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))


def _deflated(content: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(content) + compressor.flush(), len(content), zlib.crc32(content)


def _gzip_bomb(path: Path, line: bytes, megabytes: int, header: bytes = b"") -> Path:
    """``megabytes`` MiB of ``line`` repeated, as gzip members of 1 MiB each (~1 KB apiece)."""
    block = line * (MIB // len(line))
    path.write_bytes(gzip.compress(header, 1) + gzip.compress(block, 9) * megabytes)
    return path


_CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Default Extension="xml" ContentType="application/xml"/>'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    b'"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    b'spreadsheetml.worksheet+xml"/></Types>'
)
_ROOT_RELS = (
    b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    b"</Relationships>"
)
_WORKBOOK = (
    b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    b'2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    b"</Relationships>"
)
_SHEET_HEAD = (
    b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    b'2006/main"><sheetData>'
)
_SHEET_TAIL = b"</sheetData></worksheet>"


def _xlsx(path: Path, sheet: tuple[bytes, int, int]) -> Path:
    """A minimal .xlsx whose one sheet is the given deflated XML."""
    parts = [
        ("[Content_Types].xml", *_deflated(_CONTENT_TYPES)),
        ("_rels/.rels", *_deflated(_ROOT_RELS)),
        ("xl/workbook.xml", *_deflated(_WORKBOOK)),
        ("xl/_rels/workbook.xml.rels", *_deflated(_WORKBOOK_RELS)),
        ("xl/worksheets/sheet1.xml", *sheet),
    ]
    _write_zip(path, parts)
    return path


def _inline_row(number: int, cells: list[tuple[str, str]]) -> bytes:
    inner = "".join(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells)
    return f'<row r="{number}">{inner}</row>'.encode()


def _small_sheet(rows: list[list[str]], extra: bytes = b"") -> tuple[bytes, int, int]:
    body = b"".join(
        _inline_row(i + 1, [(f"{chr(65 + j)}{i + 1}", v) for j, v in enumerate(row)])
        for i, row in enumerate(rows)
    )
    return _deflated(_SHEET_HEAD + body + extra + _SHEET_TAIL)


# --- running pgingest as a capped child ---------------------------------------------------


@dataclass
class Outcome:
    """What a capped ``pgingest run`` did."""

    status: int
    output: str
    peak_rss: int
    report: dict[str, Any]
    temp_left: list[str]

    def errors(self) -> dict[str, str]:
        """Each failed file's name (the last part of its path) and error."""
        return {
            os.path.basename(f["path"].split("!/")[-1]): f["error"]
            for f in self.report.get("failed_files", [])
        }


# The child caps its own address space, then runs the command line as ``python -m pgingest``
# (a preexec_fn would be unsafe in a test process with threads). At exit it writes its
# peak RSS (VmHWM): ru_maxrss from wait4 or getrusage would include the RSS of the
# process it was forked from (Linux keeps the larger across fork and exec), here pytest's.
_CAPPED = (
    "import atexit, resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap})); "
    "atexit.register(lambda: open({peak!r}, 'w').write("
    "[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])); "
    "sys.argv = ['pgingest', *sys.argv[1:]]; "
    "runpy.run_module('pgingest', run_name='__main__')"
)


def run_capped(folder: Path, config: dict[str, Any], database_url: str) -> Outcome:
    """``pgingest run`` of ``config`` in a child under the memory cap; its peak RSS measured."""
    config_path = folder / "data_files.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    report_path = folder / "report.json"
    temp = folder / "tmp"
    temp.mkdir(exist_ok=True)
    leftover = temp / "pgingest-fetched-999999999-killed"  # a killed run's folder
    leftover.mkdir(exist_ok=True)
    (leftover / "000001-big.csv").write_bytes(b"x" * 1000)
    peak_path = folder / "peak.txt"
    capped = _CAPPED.format(cap=ADDRESS_SPACE_CAP, peak=str(peak_path))
    command = [sys.executable, "-c", capped, "run", str(config_path)]
    command += ["--database-url", database_url, "--report", str(report_path), "--no-progress"]
    env = {**os.environ, "TMPDIR": str(temp), "PGINGEST_LOG": "warn", "COLUMNS": "200"}
    with open(folder / "output.txt", "wb") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        timer = threading.Timer(RUN_TIMEOUT_SECONDS, child.kill)
        timer.start()
        try:
            _, status, _usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Outcome(
        status=child.returncode,
        output=(folder / "output.txt").read_text(errors="replace"),
        peak_rss=_peak_rss(peak_path),
        report=report,
        temp_left=sorted(p.name for p in temp.iterdir()),
    )


def _peak_rss(path: Path) -> int:
    """The child's VmHWM, in bytes ("VmHWM:   123456 kB")."""
    assert path.exists(), "the child did not exit normally"
    return int(path.read_text().split()[1]) * 1024


def _source(name: str, path: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "paths": [path], "table": name, "create": True, **options}


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    if found is None or found[0] is None:
        return 0
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    counted = conn.execute(query).fetchone()
    assert counted is not None
    return int(counted[0])


def _assert_bounded(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.output, outcome.output[-3000:]
    assert outcome.peak_rss < PEAK_RSS_LIMIT, f"peak RSS {outcome.peak_rss:,} bytes"
    assert outcome.temp_left == [], outcome.temp_left


# --- the inputs of issue 17, and others, in one run ---------------------------------------

# File name → a part of the error it must fail with.
_FAILING = {
    "deep.json": "nested deeper than 512 levels",
    "deep-objects.ndjson": "nested deeper than 512 levels",
    "deep-value.ndjson": "nested deeper than 512 levels",
    "deep-document.json": "nested deeper than 512 levels",
    "long-line.ndjson.gz": "max_",
    "rows.csv.gz": "max_compression_ratio",
    "bomb-no-extension": "max_compression_ratio",
    "bomb.csv.zst": "max_compression_ratio",
    "bomb.parquet.gz": "max_compression_ratio",
    "far-cell.xlsx": "max_sheet_cells",
    "huge-cell.xlsx": "max_compression_ratio",
    "zeros.csv": "max_compression_ratio",
    "zero": "not a regular file",
    "fifo.csv": "not a regular file",
    "truncated.csv.gz": "",
    "garbage.csv.gz": "",
    "lying-footer.parquet": "",
    "truncated.parquet": "",
    "wide.csv": "max_columns",
    "empty.csv.gz": "",
}


def _make_inputs(data: Path) -> list[dict[str, Any]]:
    """The hostile files (and some good ones), each a source of its own."""
    (data / "deep.json").write_bytes(b"[" * 20_000 + b"]" * 20_000)
    (data / "deep-objects.ndjson").write_bytes(
        b'{"id": 1}\n' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"\n"
    )
    (data / "deep-value.ndjson").write_bytes(
        b'{"id": 1, "v": [1]}\n{"id": 2, "v": ' + b"[" * 3000 + b"]" * 3000 + b"}\n"
    )
    (data / "deep-document.json").write_bytes(b'{"a": ' * 2000 + b"1" + b"}" * 2000)
    # One line of 1 GiB, 1 MB on disk.
    _gzip_bomb(data / "long-line.ndjson.gz", b"x", 1024, header=b'{"id": 1, "v": "')
    # 512 MiB of one-field rows (issue 17: a 1 MB gzip of 512M rows), and the same unnamed.
    _gzip_bomb(data / "rows.csv.gz", b"0\n", 512, header=b"n\n")
    # Long rows reach the limit in fewer rows than the one-digit ones.
    long_row = b",".join([b"1234567890"] * 31) + b"\n"
    header = ",".join(f"c{i}" for i in range(31)).encode() + b"\n"
    _gzip_bomb(data / "bomb-no-extension", long_row, 512, header=header)
    codec = pa.Codec("zstd")
    (data / "bomb.csv.zst").write_bytes(
        codec.compress(b"a\n" + (b"0" * 1023 + b"\n") * (64 * 1024))
    )
    _gzip_bomb(data / "bomb.parquet.gz", b"PAR1", 256)
    # Cell XFD1048576 named in a 1.5 KB file: 17 billion cells.
    _xlsx(
        data / "far-cell.xlsx",
        _small_sheet([["a"], ["1"]], _inline_row(1048576, [("XFD1048576", "x")])),
    )
    # One cell of 1 GiB of text.
    huge = _deflate_repeated(
        _SHEET_HEAD + b'<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>',
        b"x" * MIB,
        1024,
        b"</t></is></c></row>" + _SHEET_TAIL,
    )
    _xlsx(data / "huge-cell.xlsx", (huge[0], len(_SHEET_HEAD) + 1024 * MIB + 200, huge[1]))
    # A zip of 2 GiB of zeros in 2 MB, named .csv (a zip behind another name).
    zeros, crc = _deflate_repeated(b"a\n", b"\0" * MIB, 2048, b"")
    _write_zip(data / "zeros.csv", [("zeros.csv", zeros, 2 + 2048 * MIB, crc)])
    os.mkfifo(data / "fifo.csv")
    whole = gzip.compress(b"a,b\n" + b"1,2\n" * 100_000)
    (data / "truncated.csv.gz").write_bytes(whole[: len(whole) // 2])
    (data / "garbage.csv.gz").write_bytes(whole[:20] + os.urandom(4000))
    table = pa.table({"a": list(range(1000))})
    pq.write_table(table, data / "good.parquet")
    body = (data / "good.parquet").read_bytes()
    # The footer claims to be 2 GB long.
    (data / "lying-footer.parquet").write_bytes(
        body[:-8] + struct.pack("<I", 2_000_000_000) + b"PAR1"
    )
    (data / "truncated.parquet").write_bytes(body[: len(body) // 2] + body[-8:])
    wide_header = ",".join(f"c{i}" for i in range(20_000))
    (data / "wide.csv").write_text(wide_header + "\n" + ",".join("1" * 20_000) + "\n")
    (data / "empty.csv.gz").write_bytes(gzip.compress(b""))
    # Good files: the run goes on past the bad ones.
    (data / "good.csv").write_text("id,v\n1,a\n2,b\n")
    (data / "brackets.ndjson").write_text(
        json.dumps({"id": 1, "v": "[" * 20_000}) + "\n" + json.dumps({"id": 2, "v": '\\"{['}) + "\n"
    )
    (data / "nested.json").write_text(
        json.dumps([{"id": 1, "v": json.loads("[" * 100 + "]" * 100)}])
    )
    sources = [_source(f"s{i}", str(data / name)) for i, name in enumerate(_FAILING)]
    sources[_index("zero")]["paths"] = ["/dev/zero"]
    sources[_index("zero")]["format"] = "csv"
    sources[_index("bomb-no-extension")]["format"] = "csv"
    sources += [
        _source("good_csv", str(data / "good.csv")),
        _source("good_parquet", str(data / "good.parquet")),
        _source("brackets", str(data / "brackets.ndjson")),
        _source("nested", str(data / "nested.json")),
    ]
    return sources


def _index(name: str) -> int:
    return list(_FAILING).index(name)


def test_hostile_inputs_fail_alone_in_bounded_memory(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = {"settings": _SETTINGS, "sources": _make_inputs(data)}

    outcome = run_capped(tmp_path, config, database_url)

    _assert_bounded(outcome)
    assert outcome.status == 1, outcome.output[-3000:]
    errors = outcome.errors()
    for name, expected in _FAILING.items():
        key = "zero" if name == "zero" else name
        assert key in errors, (name, sorted(errors), outcome.output[-2000:])
        assert expected in errors[key], (name, errors[key])
        assert _count(db, f"s{_index(name)}") == 0, name
    assert db.execute("SELECT id, v FROM good_csv ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    assert _count(db, "good_parquet") == 1000
    brackets = db.execute("SELECT id, v FROM brackets ORDER BY id").fetchall()
    assert brackets == [(1, "[" * 20_000), (2, '\\"{[')]
    assert _count(db, "nested") == 1


# --- limits are settings ------------------------------------------------------------------


def test_lowered_limits_fail_what_defaults_allow(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "nested.ndjson").write_text('{"id": 1, "v": [[[[1]]]]}\n')
    (data / "line.ndjson").write_text('{"id": 1}\n{"id": 2, "v": "' + "x" * 3000 + '"}\n')
    (data / "array.json").write_text(json.dumps([{"id": 1}, {"id": 2, "v": "y" * 3000}]))
    good, crc = _deflate_repeated(b"", b"a\n1\n", 1, b"")
    members = [(f"m{i}.csv", good, 4, crc) for i in range(6)]
    _write_zip(data / "many.zip", members)
    sheet = _small_sheet([["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]])
    _xlsx(data / "sheet.xlsx", sheet)
    limits = {
        "max_json_depth": 3,
        "max_record_bytes": 2048,
        "max_zip_members": 5,
        "max_sheet_cells": 8,
    }
    config = {
        "settings": {**_SETTINGS, "limits": limits},
        "sources": [
            _source("nested", str(data / "nested.ndjson")),
            _source("line", str(data / "line.ndjson")),
            _source("array", str(data / "array.json")),
            _source("many", str(data / "many.zip")),
            _source("sheet", str(data / "sheet.xlsx")),
        ],
    }

    outcome = run_capped(tmp_path, config, database_url)

    _assert_bounded(outcome)
    assert outcome.status == 1
    errors = outcome.errors()
    assert "max_json_depth" in errors["nested.ndjson"]
    assert "line 1" in errors["nested.ndjson"] or ":1:" in errors["nested.ndjson"]
    assert "max_record_bytes" in errors["line.ndjson"]
    assert "max_record_bytes" in errors["array.json"]
    assert "max_zip_members" in errors["many.zip"]
    assert "max_sheet_cells" in errors["sheet.xlsx"]
    for table in ("nested", "line", "array", "many", "sheet"):
        assert _count(db, table) == 0


def test_limits_are_config_with_defaults() -> None:
    limits = Limits()
    assert limits.max_json_depth == 512
    assert limits.max_record_bytes == 64 * MIB
    with pytest.raises(ValueError, match="max_json_depth"):
        Limits.model_validate({"max_json_depth": 0})
    with pytest.raises(ValueError, match="extra"):
        Limits.model_validate({"max_depth": 3})


# --- a file written to while it is read (issue 17, item 4) --------------------------------


def test_a_file_is_read_to_its_discovered_size_and_fails_if_it_grew(tmp_path: Path) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"id,v\n1,value-0000000001\n")
    file = source_file_at(str(path))
    first = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b"2,value-")  # a writer half-way through its next row

    assert fingerprint_file(str(path), file.size) == "sha256:" + hashlib.sha256(first).hexdigest()
    with open_binary(file) as reader, pytest.raises(SourceError, match="changed while it was read"):
        reader.read()


def test_an_unchanged_file_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "still.csv"
    path.write_bytes(b"id,v\n1,value-0000000001\n")
    with open_binary(source_file_at(str(path))) as reader:
        assert reader.read() == path.read_bytes()


def test_a_file_that_shrank_fails(tmp_path: Path) -> None:
    path = tmp_path / "shrinking.csv"
    path.write_bytes(b"id\n" + b"1\n" * 1000)
    file = source_file_at(str(path))
    path.write_bytes(b"id\n1\n")

    with pytest.raises(SourceError, match="shrank"):
        fingerprint_file(str(path), file.size)
    with open_binary(file) as reader, pytest.raises(SourceError, match="changed while"):
        reader.read()


@pytest.mark.parametrize(
    "encoding",
    [
        "auto",
        "utf-8",
    ],
)
def test_random_bytes_as_csv_fail_without_a_traceback(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any], encoding: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "random.csv").write_bytes(b"a,b\n" + os.urandom(50_000))
    source = _source("random", str(data / "random.csv"), csv={"encoding": encoding})
    config = {"sources": [source]}

    outcome = run_capped(tmp_path, config, database_url)

    _assert_bounded(outcome)
    assert outcome.status in (0, 1)


# --- invalid UTF-8 and NUL bytes, in every format ----------------------------------------

_BAD_TEXT = b"caf\xe9 \xff\xfe"
_GOOD_ROWS = 99  # enough good rows that one reject stays under any reject ratio


def _text_inputs(data: Path) -> dict[str, dict[str, Any]]:
    """Files with one bad record among good ones; the source of each (explicitly UTF-8)."""
    good = [(i, f"v{i}") for i in range(2, _GOOD_ROWS + 2)]
    csv_rows = b"".join(f"{i},{v}\n".encode() for i, v in good)
    tsv_rows = b"".join(f"{i}\t{v}\n".encode() for i, v in good)
    lines = b"".join(json.dumps({"id": i, "v": v}).encode() + b"\n" for i, v in good)
    (data / "bad.csv").write_bytes(b"id,v\n1," + _BAD_TEXT + b"\n" + csv_rows)
    (data / "bad.tsv").write_bytes(b"id\tv\n1\t" + _BAD_TEXT + b"\n" + tsv_rows)
    (data / "bad.ndjson").write_bytes(b'{"id": 1, "v": "' + _BAD_TEXT + b'"}\n' + lines)
    (data / "bad.json").write_bytes(b'[{"id": 1, "v": "' + _BAD_TEXT + b'"}]')
    (data / "bad-header.csv").write_bytes(b"id," + _BAD_TEXT + b"\n1,2\n")
    (data / "bad.txt").write_bytes(b"1 ok\n2 " + _BAD_TEXT + b"\n")
    sheet = _SHEET_HEAD + _inline_row(1, [("A1", "id")]) + b'<row r="2"><c r="A2" t="inlineStr">'
    _xlsx(
        data / "bad.xlsx",
        _deflated(sheet + b"<is><t>" + _BAD_TEXT + b"</t></is></c></row>" + _SHEET_TAIL),
    )
    values = pa.array([_BAD_TEXT, b"ok"], pa.binary())
    pq.write_table(pa.table({"id": [1, 2], "v": values}), data / "bad.parquet")
    (data / "nul.csv").write_bytes(b"id,v\n1,a\x00b\n" + csv_rows)
    (data / "nul.ndjson").write_bytes(b'{"id": 1, "v": "a\\u0000b"}\n' + lines)
    (data / "nul-raw.ndjson").write_bytes(b'{"id": 1, "v": "a\x00b"}\n' + lines)
    (data / "nul-header.csv").write_bytes(b"id,v\x00w\n1,2\n")
    widths = [{"name": "id", "start": 1, "width": 1}, {"name": "v", "start": 3, "width": 10}]
    names = [p.name for p in sorted(data.iterdir())]
    sources = {}
    for index, name in enumerate(names):
        source = _source(f"u{index}", str(data / name))
        if not name.endswith((".xlsx", ".parquet")):
            source["encoding"] = "utf-8"  # explicit: strict, whatever the default becomes
        if name.endswith(".txt"):
            source.update(format="fixed_width", fixed_width={"columns": widths})
        sources[name] = source
    return sources


# File → the rows that load (the bad record set aside as a reject), or a part of its error.
_TEXT_OUTCOMES: dict[str, int | str] = {
    "bad.csv": _GOOD_ROWS,
    "bad.tsv": _GOOD_ROWS,
    "bad.ndjson": _GOOD_ROWS,
    "bad.json": "utf8",
    "bad-header.csv": "utf-8",
    "bad.txt": "utf-8",
    "bad.xlsx": "utf-8",
    "bad.parquet": 2,  # binary stays binary: bytea, exactly
    "nul.csv": _GOOD_ROWS,
    "nul.ndjson": _GOOD_ROWS,
    "nul-raw.ndjson": _GOOD_ROWS,
    "nul-header.csv": "NUL",
}


def test_invalid_text_in_every_format_is_a_reject_or_a_clear_error(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sources = _text_inputs(data)
    config = {"settings": _SETTINGS, "sources": list(sources.values())}

    outcome = run_capped(tmp_path, config, database_url)

    _assert_bounded(outcome)
    errors = outcome.errors()
    for name, expected in _TEXT_OUTCOMES.items():
        table = sources[name]["table"]
        if isinstance(expected, str):
            assert expected.lower() in errors.get(name, "").lower(), (name, errors.get(name))
            assert _count(db, table) == 0, name
        else:
            assert name not in errors, (name, errors[name])
            assert _count(db, table) == expected, name
    query = sql.SQL("SELECT v FROM {} ORDER BY id").format(
        sql.Identifier(sources["bad.parquet"]["table"])
    )
    bytea = db.execute(query).fetchall()
    assert bytea == [(_BAD_TEXT,), (b"ok",)]


class _AppendWhenStarted(NullReporter):
    """A writer adds rows to the file just as its load starts (after its fingerprint)."""

    def __init__(self, path: Path, more: bytes) -> None:
        self._path, self._more = path, more

    def unit_started(self, file: SourceFile) -> None:
        with open(self._path, "ab") as handle:
            handle.write(self._more)


def test_a_file_appended_to_during_its_load_fails_whole_and_loads_next_run(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"id,v\n" + b"".join(b"%d,value-%010d\n" % (i, i) for i in range(1000)))
    config = parse_config({"sources": [_source("growing", str(path))]}, base_dir=tmp_path)
    writer = _AppendWhenStarted(path, b"1000,value-0000001000\n1001,value-")

    first = run(config, RunOptions(database_url=database_url, reporter=writer))

    assert len(first.failed_files) == 1
    assert "changed while it was read" in first.failed_files[0].error
    assert _count(db, "growing") == 0  # neither the old bytes nor a half row
    with open(path, "ab") as handle:
        handle.write(b"0000001001\n")  # the writer finishes its row

    second = run(config, RunOptions(database_url=database_url))

    assert second.failed_files == []
    assert _count(db, "growing") == 1002
    last = db.execute("SELECT v FROM growing WHERE id = 1001").fetchone()
    assert last == ("value-0000001001",)
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    stored = db.execute("SELECT fingerprint, size FROM pgingest.files WHERE status = 'loaded'")
    assert stored.fetchall() == [(digest, path.stat().st_size)]
