"""Exactly once at the edges: a lost COMMIT reply, and one file cut into chunks two ways."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.pipeline import RunOptions, run
from pgingest.report.run_report import RunReport

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
