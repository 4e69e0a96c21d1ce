"""Small CSV files parsed together (one pyarrow reader for several files) load exactly
what COPY loads from each file alone, and each file is credited with its own rows."""

from __future__ import annotations

import importlib
import random
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.parse.csv import CsvReader
from pgingest.pipeline import RunOptions, run

csv_module = importlib.import_module("pgingest.parse.csv")


def _field(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return ""  # NULL
    if roll < 0.5:
        return rng.choice(["x", "plain words", "é ü", "1", "-"])
    inner = "".join(
        rng.choice(["q", ",", '""', "\n", "\r\n", " ", "ß", ";"]) for _ in range(rng.randrange(7))
    )
    return '"' + inner + '"'


BLANK_LINES: set[str] = set()  # the generated files with a blank line among their records


def _file(rng: random.Random, index: int) -> bytes:
    ending = rng.choice(["\n", "\n", "\r\n"])
    header = rng.choice(["id,a,b", '"id","a","b"', 'id,"a",b'])
    lines = [header]
    for row in range(rng.randrange(0, 30)):
        if rng.random() < 0.02:
            lines.append("")  # a blank line: no record
            BLANK_LINES.add(f"f-{index:03d}.csv")
        lines.append(f"{index * 1000 + row},{_field(rng)},{_field(rng)}")
    text = ending.join(lines)
    if rng.random() < 0.8:
        text += ending
    data = text.encode()
    if rng.random() < 0.1:
        data = b"\xef\xbb\xbf" + data  # a byte-order mark
    return data


ODD_FILES = {
    # read alone: a carriage return that is not part of CRLF (inside a quoted field)
    "odd-cr.csv": b'id,a,b\n1,"a\rb",c\n2,d,e\n',
    # read alone, by COPY's rules: a quote in mid-field
    "odd-quote.csv": b'id,a,b\n3,x"y"z,w\n4,"v",u\n',
    # its own header order: parsed apart from its neighbours
    "odd-order.csv": b"b,id,a\nlast,5,first\n",
    # a header and nothing else
    "odd-empty.csv": b"id,a,b\n",
}


def test_files_read_together_load_as_copy_loads_each_alone(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(12)
    folder = tmp_path / "data"
    folder.mkdir()
    contents = {f"f-{i:03d}.csv": _file(rng, i) for i in range(80)}
    contents.update(ODD_FILES)
    for name, data in contents.items():
        (folder / name).write_bytes(data)

    calls: list[int] = []
    read_together = CsvReader.read_together

    def counted(self: CsvReader, bodies: list[bytes], plan: Any) -> Any:
        calls.append(len(bodies))
        return read_together(self, bodies, plan)

    monkeypatch.setattr(CsvReader, "read_together", counted)
    report = _load(database_url, tmp_path, "t", db)
    assert report.failed_files == []
    assert sum(calls) >= 70, calls  # most files were parsed with others
    assert len(calls) < 30, calls  # several files to a reader (batch_size 200: ~13)
    together = _per_file_rows(db, "t")

    # The same files, each parsed alone (the path every other test checks against COPY).
    monkeypatch.setattr(CsvReader, "records_to_read_together", lambda self: None)
    calls.clear()
    assert _load(database_url, tmp_path, "alone", db).failed_files == []
    assert calls == []
    assert together == _per_file_rows(db, "alone")
    _assert_same_rows(db, "t", "alone")

    # And COPY itself, for the files without blank lines (COPY refuses those; pgingest
    # reads a blank line of a file with several columns as no record, as pyarrow does).
    db.execute("CREATE TABLE ref (id bigint, a text, b text, src text)")
    for name, data in contents.items():
        if name in BLANK_LINES:
            continue
        header = data.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode().strip("\r")
        columns = ", ".join(column.strip('"') for column in header.split(","))
        with db.cursor().copy(f"COPY ref ({columns}) FROM STDIN (FORMAT csv, HEADER)") as copy:
            copy.write(data)
        db.execute("UPDATE ref SET src = %s WHERE src IS NULL", (str(folder / name),))
    compared = db.execute("SELECT count(DISTINCT src) FROM ref").fetchone()
    assert compared is not None
    assert compared[0] > 40
    db.execute("DELETE FROM t WHERE src NOT IN (SELECT src FROM ref)")
    _assert_same_rows(db, "t", "ref")


def _load(database_url: str, tmp_path: Path, table: str, db: psycopg.Connection[Any]) -> Any:
    db.execute(f"CREATE TABLE {table} (id bigint, a text, b text, src text)")
    config = parse_config(
        {
            "settings": {"workers": 2, "connections": 2, "batch_size": 200},
            "sources": [
                {"name": "s", "paths": ["data/*.csv"], "table": table, "file_column": "src"}
            ],
        },
        base_dir=tmp_path,
    )
    return run(config, RunOptions(database_url=database_url))


def _per_file_rows(db: psycopg.Connection[Any], table: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT path, rows FROM pgingest.files WHERE table_name = %s", (f"public.{table}",)
    ).fetchall()
    counted = dict(db.execute(f"SELECT src, count(*) FROM {table} GROUP BY src").fetchall())
    assert {path: counted.get(path, 0) for path, _ in rows} == dict(rows)
    return {Path(path).name: count for path, count in rows}


def _assert_same_rows(db: psycopg.Connection[Any], left: str, right: str) -> None:
    for one, other in ((left, right), (right, left)):
        differ = db.execute(
            f"SELECT count(*) FROM (SELECT * FROM {one} EXCEPT ALL SELECT * FROM {other}) d"
        ).fetchone()
        assert differ == (0,), (
            one,
            other,
            db.execute(f"SELECT * FROM {one} EXCEPT ALL SELECT * FROM {other}").fetchall(),
        )


def test_a_miscounted_file_is_caught_by_its_end_mark_and_read_alone(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts that are wrong but add up (one file +1, the next -1) never credit a row to
    the wrong file: each file's rows end at its mark, the group rolls back, and each
    file loads alone."""
    folder = tmp_path / "data"
    folder.mkdir()
    for index in range(6):
        rows = "".join(f"{index * 10 + row},a{row},b\n" for row in range(3))
        (folder / f"f-{index}.csv").write_text("id,a,b\n" + rows)
    count = csv_module.count_records
    skew = iter([1, -1] * 10)
    monkeypatch.setattr(
        csv_module, "count_records", lambda body, quote: count(body, quote=quote) + next(skew)
    )
    report = _load(database_url, tmp_path, "t", db)
    assert report.failed_files == []
    assert _per_file_rows(db, "t") == {f"f-{index}.csv": 3 for index in range(6)}
    wrong = db.execute(
        "SELECT count(*) FROM t WHERE src NOT LIKE '%/f-' || (id / 10) || '.csv'"
    ).fetchone()
    assert wrong == (0,)


def test_files_without_a_text_column_are_read_one_by_one(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """The end mark needs a column read as text: without one each file is read alone."""
    folder = tmp_path / "data"
    folder.mkdir()
    for index in range(5):
        (folder / f"f-{index}.csv").write_text(f"ok,day\ntrue,2024-01-0{index + 1}\nf,\n")
    db.execute("CREATE TABLE flags (ok boolean, day date)")
    config = parse_config(
        {"sources": [{"name": "s", "paths": ["data/*.csv"], "table": "flags"}]},
        base_dir=tmp_path,
    )
    report = run(config, RunOptions(database_url=database_url))
    assert report.failed_files == []
    assert db.execute("SELECT count(*), count(ok), count(day) FROM flags").fetchone() == (10, 10, 5)
