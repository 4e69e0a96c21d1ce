"""Large CSV files load as parallel chunks: same rows as a whole-file load, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.split import chunk_boundaries
from pgingest.summary import RunReport
from tests.conftest import write_config

CHUNK = 64 << 10


def _tricky_csv(path: Path, rows: int) -> None:
    lines = ["id,note,amount"]
    for i in range(rows):
        note = f'"line one\nline two, ""quoted"" {i}"' if i % 7 == 0 else f"plain {i}"
        lines.append(f"{i},{note},{i % 1000}.5")
    path.write_text("\n".join(lines) + "\n")


def test_boundaries_fall_between_records(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    _tricky_csv(path, 20_000)
    data = path.read_bytes()
    boundaries = chunk_boundaries(str(path), size=len(data), quote='"', chunk_bytes=CHUNK)
    assert len(boundaries) > 5
    for offset, line in boundaries:
        assert data[offset - 1 : offset] == b"\n"
        assert data[:offset].count(b'"') % 2 == 0  # not inside a quoted value
        assert data[:offset].count(b"\n") + 1 == line
        assert data[offset:].split(b",", 1)[0].isdigit()  # a record (its id) starts there


def test_stray_quotes_never_split_a_record(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    rows = ["id,note,amount"]
    for i in range(20_000):
        if i % 3 == 0:
            rows.append(f'{i},5" screen,1.5')  # a literal quote that flips the parity
        elif i % 3 == 1:
            rows.append(f'{i},"two\nlines",2.5')
        else:
            rows.append(f"{i},plain,3.5")
    (tmp_path / "odd.csv").write_text("\n".join(rows) + "\n")
    db.execute("CREATE TABLE t (id int, note text, amount numeric(8,2))")
    db.execute("CREATE TABLE whole (id int, note text, amount numeric(8,2))")
    report = load(
        {
            # Stray quotes make many records unreadable, as in COPY: no reject limit here.
            "settings": {"chunk_bytes": CHUNK, "max_reject_ratio": None},
            "sources": [{"name": "s", "paths": ["odd.csv"], "table": "t"}],
        }
    )
    assert report.failed_files == []
    # The same file loaded whole (a quote inside an unquoted value starts a quoted
    # part, as in PostgreSQL's COPY, and chunk boundaries follow the same rule).
    whole = load(
        {
            "settings": {"max_reject_ratio": None},
            "sources": [{"name": "w", "paths": ["odd.csv"], "table": "whole"}],
        }
    )
    assert whole.failed_files == []
    assert report.records_rejected == whole.records_rejected
    assert (
        db.execute(
            "(SELECT * FROM t EXCEPT ALL SELECT * FROM whole) UNION ALL "
            "(SELECT * FROM whole EXCEPT ALL SELECT * FROM t)"
        ).fetchall()
        == []
    )


def test_chunked_load_equals_whole_load(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    _tricky_csv(tmp_path / "big.csv", 30_000)
    db.execute("CREATE TABLE t (id int, note text, amount numeric(8,2))")
    db.execute("CREATE TABLE whole (id int, note text, amount numeric(8,2))")
    report = load(
        {
            "settings": {"chunk_bytes": CHUNK, "workers": 2},
            "sources": [{"name": "s", "paths": ["big.csv"], "table": "t"}],
        }
    )
    assert report.failed_files == []
    assert report.files_succeeded == 1
    assert report.records_inserted == 30_000
    parts = db.execute(
        "SELECT count(*) FROM pgingest.files WHERE status = 'loaded' AND part <> ''"
    ).fetchone()
    assert parts is not None
    assert parts[0] > 5
    with db.cursor() as cursor, cursor.copy("COPY whole FROM STDIN (FORMAT csv, HEADER)") as copy:
        copy.write((tmp_path / "big.csv").read_bytes())
    assert (
        db.execute(
            "(SELECT * FROM t EXCEPT ALL SELECT * FROM whole) UNION ALL "
            "(SELECT * FROM whole EXCEPT ALL SELECT * FROM t)"
        ).fetchall()
        == []
    )
    again = load(
        {
            "settings": {"chunk_bytes": CHUNK},
            "sources": [{"name": "s", "paths": ["big.csv"], "table": "t"}],
        }
    )
    assert (again.files_skipped, again.records_inserted) == (1, 0)


def test_rejects_in_a_later_chunk_name_the_file_line(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    _tricky_csv(path, 30_000)
    text = path.read_text().replace("\n29000,plain 29000,", "\n29000,plain 29000,oops", 1)
    path.write_text(text)
    expected_line = text[: text.index("\n29000,plain")].count("\n") + 2
    db.execute("CREATE TABLE t (id int, note text, amount numeric(8,2))")
    report = load(
        {
            "settings": {"chunk_bytes": CHUNK},
            "sources": [{"name": "s", "paths": ["big.csv"], "table": "t"}],
        }
    )
    assert report.records_rejected == 1
    assert db.execute("SELECT line, value FROM pgingest.rejects").fetchone() == (
        expected_line,
        "oops0.5",
    )


@pytest.mark.slow
def test_killed_chunked_load_resumes_with_the_missing_chunks(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    _tricky_csv(tmp_path / "big.csv", 200_000)
    db.execute("CREATE TABLE t (id int, note text, amount numeric(8,2))")
    config = write_config(
        tmp_path,
        {
            "settings": {"chunk_bytes": 256 << 10, "workers": 2},
            "sources": [{"name": "s", "paths": ["big.csv"], "table": "t"}],
        },
    )
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "pgingest", "run", str(config), "--quiet"]
    for _ in range(100):
        process = subprocess.Popen(command, env=env)
        time.sleep(0.2)
        while process.poll() is None:
            loaded = (
                db.execute("SELECT count(*) FROM pgingest.files WHERE status = 'loaded'").fetchone()
                if _has_manifest(db)
                else (0,)
            )
            if loaded and loaded[0] >= 2:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        process.wait()
        if _has_manifest(db):
            break
    partial = db.execute("SELECT count(*) FROM t").fetchone()
    assert partial is not None
    assert 0 < partial[0] < 200_000, "the kill came too late or too early to test a resume"
    final = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (200_000, 200_000)


def _has_manifest(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("SELECT to_regclass('pgingest.files') IS NOT NULL").fetchone()
    return bool(row and row[0])
