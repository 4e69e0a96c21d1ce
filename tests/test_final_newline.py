"""A last record without a line break loads as COPY loads it (pyarrow alone reads its
empty last field after a quoted one as "" instead of NULL)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.pipeline import RunOptions, run

ENDINGS = [
    b'9,"",',  # the empty last field follows a quoted one
    b'9,"a",',
    b"9,,",
    b'9,"a","b"',
    b"9,x,",
]
FILLER = b"".join(b"%d,filler text,more text %d\n" % (i, i) for i in range(60000))  # > 1 MiB


def _load_and_compare(db: psycopg.Connection[Any], database_url: str, path: Path) -> None:
    db.execute("DROP TABLE IF EXISTS t, ref")
    db.execute("DROP SCHEMA IF EXISTS pgingest CASCADE")
    db.execute("CREATE TABLE t (id bigint, a text, b text)")
    db.execute("CREATE TABLE ref (id bigint, a text, b text)")
    config = parse_config(
        {"sources": [{"name": "s", "paths": [str(path)], "table": "t"}]}, base_dir=path.parent
    )
    report = run(config, RunOptions(database_url=database_url))
    assert report.failed_files == []
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    with db.cursor().copy("COPY ref FROM STDIN (FORMAT csv, HEADER)") as copy:
        copy.write(data)
    for one, other in (("t", "ref"), ("ref", "t")):
        differ = db.execute(f"SELECT * FROM {one} EXCEPT ALL SELECT * FROM {other}").fetchall()
        assert differ == [], (path.name, one, differ)


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("size", ["small", "large", "gzip"])
def test_a_last_record_without_a_line_break_loads_as_copy_loads_it(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, ending: bytes, size: str
) -> None:
    data = b"id,a,b\n" + (FILLER if size != "small" else b"1,x,y\n") + ending
    path = tmp_path / ("data.csv.gz" if size == "gzip" else "data.csv")
    path.write_bytes(gzip.compress(data) if size == "gzip" else data)
    _load_and_compare(db, database_url, path)


def test_a_one_column_file_gets_no_extra_record_from_the_added_line_break(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """A blank line is a record of a one-column file: the line break is added only where
    the text lacks one, so no NULL row appears."""
    for name, data in {
        "ends.csv": b"v\n1\n\n2\n",
        "open.csv": b"v\n1\n\n2",
        "cr.csv": b"v\r1\r",
    }.items():
        db.execute("DROP TABLE IF EXISTS one, one_ref")
        db.execute("DROP SCHEMA IF EXISTS pgingest CASCADE")
        db.execute("CREATE TABLE one (v text)")
        db.execute("CREATE TABLE one_ref (v text)")
        path = tmp_path / name
        path.write_bytes(data)
        config = parse_config(
            {"sources": [{"name": "s", "paths": [str(path)], "table": "one"}]}, base_dir=tmp_path
        )
        assert run(config, RunOptions(database_url=database_url)).failed_files == []
        with db.cursor().copy("COPY one_ref FROM STDIN (FORMAT csv, HEADER)") as copy:
            copy.write(data)
        got = db.execute("SELECT v FROM one ORDER BY v NULLS FIRST").fetchall()
        assert got == db.execute("SELECT v FROM one_ref ORDER BY v NULLS FIRST").fetchall(), name


def _crlf_at(offset: int) -> bytes:
    """A file whose quoted CRLF has its CR at ``offset`` (a block boundary, minus one)."""
    head = b"id,a,b\n" + b"".join(b"%d,%s,b\n" % (i, b"x" * 90) for i in range(10, 2000))
    pad = offset - len(head) - len(b'5888,"p')
    return head + b"7," + b"y" * (pad - 5) + b',b\n5888,"p\r\nq",b\n9,z,b\n'


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_quoted_crlf_cut_between_two_blocks_keeps_its_line_feed(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, size: str
) -> None:
    """pyarrow drops a line feed that starts a block after one that ended in CR, even
    inside quotes (apache/arrow#51368): p\\r\\nq must not load as p\\rq."""
    data = _crlf_at((256 << 10) - 1)
    assert data.index(b"\r") == (256 << 10) - 1
    if size == "large":  # streamed (over 1 MiB), with a CR at a later block's end too
        data += b"".join(b"%d,%s,b\n" % (i, b"w" * 90) for i in range(20000, 40000))
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    _load_and_compare(db, database_url, path)
    assert db.execute("SELECT a FROM t WHERE id = 5888").fetchone() == ("p\r\nq",)


@pytest.mark.parametrize("size", ["small", "large"])
def test_a_quoted_value_left_open_at_the_end_is_never_loaded_as_if_closed(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, size: str
) -> None:
    """COPY refuses a file whose last quoted value is not closed; pyarrow reads it as if
    it were. pgingest sets the open record aside (with all that follows it)."""
    filler = b"".join(b"%d,x,y\n" % i for i in range(10, 60000 if size == "large" else 100))
    path = tmp_path / "data.csv"
    path.write_bytes(b"id,a,b\n" + filler + b'1,x,"abc\n2,p,q\n')
    db.execute("CREATE TABLE t (id bigint, a text, b text)")
    config = parse_config(
        {"sources": [{"name": "s", "paths": [str(path)], "table": "t"}]}, base_dir=tmp_path
    )
    report = run(config, RunOptions(database_url=database_url))
    assert db.execute("SELECT count(*) FROM t WHERE id IN (1, 2)").fetchone() == (0,)
    assert report.records_rejected == 1 or report.failed_files
