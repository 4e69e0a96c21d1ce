"""The Dask executor: the same table as the local executor, exactly once when a worker dies."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.errors import ConfigError
from pgingest.executor.dask import DaskExecutor
from pgingest.pipeline import RunOptions, run

distributed = pytest.importorskip("distributed")

ROWS_PER_FILE = 30_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # None still serves /metrics on 8787, warning if it is taken
        worker_dashboard_address=None,
    ) as local:
        yield local


@pytest.fixture
def executor(cluster: Any) -> Iterator[DaskExecutor]:
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        yield DaskExecutor(client)


def _files(folder: Path, count: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        start = index * ROWS_PER_FILE
        rows = "".join(f"{i},label {i}\n" for i in range(start, start + ROWS_PER_FILE))
        (folder / f"part-{index:02d}.csv").write_text("id,label\n" + rows)
    return count * ROWS_PER_FILE


def _config(tmp_path: Path, table: str) -> Any:
    return parse_config(
        {
            "settings": {"retry": {"db": {"attempts": 5, "initial_delay": 0.1}}},
            "sources": [{"name": "s", "paths": ["data/*.csv"], "table": table}],
        },
        base_dir=tmp_path,
    )


def test_dask_loads_the_same_table_as_the_local_executor(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, executor: DaskExecutor
) -> None:
    expected = _files(tmp_path / "data", 6)
    db.execute("CREATE TABLE by_dask (id bigint, label text)")
    db.execute("CREATE TABLE by_threads (id bigint, label text)")
    report = run(
        _config(tmp_path, "by_dask"), RunOptions(database_url=database_url, executor=executor)
    )
    assert report.failed_files == []
    assert report.records_inserted == expected
    assert report.stages["copy"] > 0  # figures measured on the workers came back
    run(_config(tmp_path, "by_threads"), RunOptions(database_url=database_url))
    assert (
        db.execute(
            "(SELECT * FROM by_dask EXCEPT ALL SELECT * FROM by_threads) UNION ALL "
            "(SELECT * FROM by_threads EXCEPT ALL SELECT * FROM by_dask)"
        ).fetchall()
        == []
    )


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, executor: DaskExecutor
) -> None:
    expected = _files(tmp_path / "data", 10)
    db.execute("CREATE TABLE t (id bigint, label text)")
    pids = executor.client.run(os.getpid)
    killed: list[int] = []
    done = threading.Event()

    def kill_a_worker() -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            while not done.is_set():
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%'"
                    " AND application_name = 'pgingest' AND state = 'active'"
                ).fetchone()
                if row and row[0]:
                    pid = next(iter(pids.values()))
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.01)

    thread = threading.Thread(target=kill_a_worker)
    thread.start()
    try:
        report = run(
            _config(tmp_path, "t"), RunOptions(database_url=database_url, executor=executor)
        )
    finally:
        done.set()
        thread.join()
    assert killed, "no worker was killed while loading"
    assert report.failed_files == []
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (
        expected,
        expected,
    )


def test_embedded_database_is_refused_with_a_reason(
    tmp_path: Path, executor: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    _files(tmp_path / "data", 1)
    from pgingest.embedded import stop_embedded

    try:
        with pytest.raises(ConfigError, match="Dask workers cannot reach the embedded"):
            run(_config(tmp_path, "t"), RunOptions(executor=executor))
    finally:
        stop_embedded(tmp_path)


def test_config_needs_a_scheduler_for_dask() -> None:
    with pytest.raises(ConfigError, match='needs "scheduler"'):
        parse_config(
            {
                "settings": {"executor": "dask"},
                "sources": [{"name": "s", "paths": ["x"], "table": "t"}],
            }
        )


def test_command_line_runs_on_the_cluster(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, cluster: Any
) -> None:
    from typer.testing import CliRunner

    from pgingest.cli import app
    from tests.conftest import write_config

    expected = _files(tmp_path / "data", 3)
    db.execute("CREATE TABLE t (id bigint, label text)")
    config = write_config(
        tmp_path, {"sources": [{"name": "s", "paths": ["data/*.csv"], "table": "t"}]}
    )
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(config),
            "--database-url",
            database_url,
            "--executor",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
        ],
    )
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT count(*) FROM t").fetchone() == (expected,)
    usage = CliRunner().invoke(app, ["run", str(config), "--executor", "dask"])
    assert usage.exit_code == 2
    assert "--scheduler" in usage.output
