"""A half-loaded chunked file: `status`, `plan` and the next run agree; killed runs are marked.

The kill is injected at the seam where a run starts its next unit: a
BaseException, like the KeyboardInterrupt or SystemExit that ends a process,
which nothing in pgingest catches.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.config import parse_config
from pgingest.pipeline import RunOptions, run
from pgingest.store.run_lock import mark_interrupted, take_run_lock
from tests.conftest import write_config

jobs_module = importlib.import_module("pgingest.pipeline.unit.jobs")

CHUNK = 4096
ROWS = 4000


class _Killed(BaseException):
    """The process ends here."""


def _data(folder: Path) -> dict[str, Any]:
    (folder / "big.csv").write_text(
        "id,name\n" + "".join(f"{i},name-{i:06d}\n" for i in range(ROWS))
    )
    return {
        "settings": {"chunk_bytes": CHUNK, "workers": 1, "connections": 1},
        "sources": [{"name": "big", "paths": ["big.csv"], "table": "big"}],
    }


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_half_loaded_file_is_partial_in_status_and_plan_then_completes(
    db: psycopg.Connection[Any],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db.execute("CREATE TABLE big (id int, name text)")
    data = _data(tmp_path)
    config = write_config(tmp_path, data)
    started = {"units": 0}
    load_unit = jobs_module.load_unit

    def killed_at_the_fourth(unit: Any, context: Any) -> Any:
        started["units"] += 1
        if started["units"] == 4:
            raise _Killed
        return load_unit(unit, context)

    monkeypatch.setattr(jobs_module, "load_unit", killed_at_the_fourth)
    with pytest.raises(_Killed):
        run(parse_config(data, base_dir=tmp_path), RunOptions(database_url=database_url))
    monkeypatch.undo()
    loaded = db.execute("SELECT count(*) FROM pgingest.files WHERE status = 'loaded'").fetchone()
    assert loaded == (3,)
    (total,) = db.execute("SELECT count(*) FROM big").fetchone() or ()
    assert 0 < total < ROWS

    status = _invoke("status", str(config), "--database-url", database_url, "--json")
    assert status.exit_code == 0, status.output
    [source] = json.loads(status.output)
    assert (source["loaded"], source["partial"]) == (0, 1)
    [partial] = source["partial_files"]
    parts = partial["parts"]
    assert partial["parts_loaded"] == 3
    assert parts > 3
    shown = " ".join(_invoke("status", str(config), "--database-url", database_url).output.split())
    assert f"partial (3 of {parts} parts)" in shown

    plan = _invoke("plan", str(config), "--database-url", database_url)
    assert f"partial (3 of {parts} parts); loads the other {parts - 3}" in " ".join(
        plan.output.split()
    )

    result = _invoke("run", str(config), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone() == (ROWS, ROWS)
    assert db.execute("SELECT count(*) FROM pgingest.files WHERE status = 'loaded'").fetchone() == (
        parts,
    )
    [source] = json.loads(
        _invoke("status", str(config), "--database-url", database_url, "--json").output
    )
    assert (source["loaded"], source["partial"]) == (1, 0)

    # The killed run no longer claims to be running.
    # (--all: the killed run was started from Python, with no config file to show it under.)
    runs = json.loads(
        _invoke("runs", str(config), "--all", "--database-url", database_url, "--json").output
    )
    assert sorted(r["status"] for r in runs) == ["interrupted", "succeeded"]


def test_a_run_that_holds_its_lock_stays_running(
    db: psycopg.Connection[Any], database_url: str
) -> None:
    from pgingest.store.schema import ensure_schema

    ensure_schema(db)
    alive, dead = uuid.uuid4(), uuid.uuid4()
    for run_id in (alive, dead):
        db.execute("INSERT INTO pgingest.runs (run_id, started_at) VALUES (%s, now())", (run_id,))
    with psycopg.connect(database_url, autocommit=True) as lock:
        take_run_lock(lock, alive)  # as each connection of a live run's pool does
        assert mark_interrupted(db) == 1
        states = dict(db.execute("SELECT run_id, status FROM pgingest.runs").fetchall())
        assert states == {alive: "running", dead: "interrupted"}
        pid = lock.info.backend_pid
    _wait_until_gone(db, pid)  # the server ends a closed session a moment later
    assert mark_interrupted(db) == 1
    assert db.execute(
        "SELECT status FROM pgingest.runs WHERE run_id = %s", (alive,)
    ).fetchone() == ("interrupted",)


def _wait_until_gone(db: psycopg.Connection[Any], pid: int) -> None:
    for _ in range(1000):
        if db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
            return
        time.sleep(0.01)
