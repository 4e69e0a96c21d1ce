"""Exactly once at the edges: a lost COMMIT reply, one file cut into chunks two ways, and
many small files (several to a transaction) killed at random moments."""

from __future__ import annotations

import importlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.pipeline import RunOptions, run
from pgingest.summary import RunReport
from tests.conftest import write_config

attempt_module = importlib.import_module("pgingest.pipeline.unit.transaction")
run_module = importlib.import_module("pgingest.pipeline.run")

ROWS = 4000


def test_a_lost_commit_reply_is_settled_from_the_manifest(
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The COMMIT lands but its reply is lost: the unit counts as loaded, once."""
    db.execute("CREATE TABLE t (id int)")
    (tmp_path / "a.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(100)))
    recorded: set[int] = set()
    record_loaded = attempt_module.record_loaded
    exit_transaction = psycopg.Transaction.__exit__

    def noted(conn: psycopg.Connection[Any], **kwargs: Any) -> None:
        record_loaded(conn, **kwargs)
        recorded.add(id(conn))

    def commit_then_lose_the_reply(self: psycopg.Transaction, *exc: Any) -> bool:
        result = exit_transaction(self, *exc)
        if id(self.connection) in recorded and exc[0] is None:
            recorded.clear()
            self.connection.close()  # the reply never arrives: the connection broke
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr(attempt_module, "record_loaded", noted)
    monkeypatch.setattr(psycopg.Transaction, "__exit__", commit_then_lose_the_reply)
    report = load({"sources": [{"name": "s", "paths": ["a.csv"], "table": "t"}]})
    monkeypatch.undo()
    assert (report.files_succeeded, report.files_skipped, report.files_failed) == (1, 0, 0)
    assert report.records_inserted == 100
    assert db.execute("SELECT count(*) FROM t").fetchone() == (100,)
    assert db.execute("SELECT count(*) FROM pgingest.files").fetchone() == (1,)


def _config(tmp_path: Path, chunk_bytes: int) -> Any:
    data = {
        "settings": {"chunk_bytes": chunk_bytes, "workers": 1, "connections": 1},
        "sources": [{"name": "big", "paths": ["big.csv"], "table": "big"}],
    }
    return parse_config(data, base_dir=tmp_path)


def test_two_runs_cutting_one_file_differently_load_it_once(
    db: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run B plans its chunks, then run A (other chunk_bytes) loads the file; B's overlap."""
    db.execute("CREATE TABLE big (id int, name text)")
    (tmp_path / "big.csv").write_text(
        "id,name\n" + "".join(f"{i},name-{i:06d}\n" for i in range(ROWS))
    )
    run_jobs = run_module.run_jobs
    other: list[RunReport] = []

    def another_run_first(*args: Any, **kwargs: Any) -> Any:
        if not other:
            monkeypatch.setattr(run_module, "run_jobs", run_jobs)  # run A runs as usual
            other.append(run(_config(tmp_path, 8192), RunOptions(database_url=database_url)))
        return run_jobs(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_jobs", another_run_first)
    report = run(_config(tmp_path, 4096), RunOptions(database_url=database_url))
    assert other[0].records_inserted == ROWS
    assert report.records_inserted == 0
    assert report.failed_files == []
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone() == (ROWS, ROWS)


SMALL_FILES = 600
SMALL_ROWS = 50


def test_sigkill_during_many_small_files_then_rerun_loads_every_row_once(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """Files land several to a transaction: a kill leaves each file whole or absent, and its
    manifest row exactly when its rows are there; a re-run then loads the rest once."""
    db.execute("CREATE TABLE t (id bigint, label text)")
    folder = tmp_path / "data"
    folder.mkdir()
    for index in range(SMALL_FILES):
        start = index * SMALL_ROWS
        rows = "".join(f"{i},row {i}\n" for i in range(start, start + SMALL_ROWS))
        (folder / f"f-{index:04d}.csv").write_text("id,label\n" + rows)
    config = write_config(
        tmp_path,
        {
            "settings": {"workers": 2, "connections": 2},
            "sources": [{"name": "t", "paths": ["data/*.csv"], "table": "t"}],
        },
    )
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "pgingest", "run", str(config), "--quiet"]
    chance = random.Random(20261130)
    partial = 0
    for _trial in range(5):
        before = _loaded_files(db)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Kill it mid-load: once it has landed something, at a random moment after.
        deadline = time.monotonic() + 60
        while _loaded_files(db) == before and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # (A group of these files lands in tens of milliseconds: a longer wait would
        # often find the run finished.)
        time.sleep(chance.uniform(0.0, 0.08))
        process.send_signal(signal.SIGKILL)
        process.wait()
        _assert_whole_files_with_their_manifest_rows(db)
        partial += 0 < _loaded_files(db) < SMALL_FILES
    assert partial, "every run finished before it was killed"
    final = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    _assert_whole_files_with_their_manifest_rows(db)
    expected = SMALL_FILES * SMALL_ROWS
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (
        expected,
        expected,
    )


def _loaded_files(db: psycopg.Connection[Any]) -> int:
    """Files with a loaded manifest row (0 before the first run made the manifest)."""
    if not _has_manifest(db):
        return 0
    row = db.execute("SELECT count(*) FROM pgingest.files WHERE status = 'loaded'").fetchone()
    return int(row[0]) if row else 0


def _has_manifest(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("SELECT to_regclass('pgingest.files') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _assert_whole_files_with_their_manifest_rows(db: psycopg.Connection[Any]) -> None:
    per_file = dict(
        db.execute("SELECT id / %s, count(*) FROM t GROUP BY 1", (SMALL_ROWS,)).fetchall()
    )
    assert all(count == SMALL_ROWS for count in per_file.values()), per_file
    manifest = db.execute(
        "SELECT path, rows FROM pgingest.files WHERE status = 'loaded'"
    ).fetchall()
    indexes = [int(Path(path).stem.split("-")[1]) for path, _ in manifest]
    assert len(indexes) == len(set(indexes)), "a file has two loaded manifest rows"
    assert set(indexes) == set(per_file), "rows without their manifest row, or the reverse"
    assert all(rows == SMALL_ROWS for _, rows in manifest)
