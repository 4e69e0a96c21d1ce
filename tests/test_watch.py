"""``pgingest watch`` against a real PostgreSQL: files landing by rename, by slow writes, in a
burst; a SIGKILL mid-stream and a restart; SIGTERM; the database going away; failed files.

The watch runs as a real process (``python -m pgingest watch``) with a tight interval
and settle time; every wait polls the database for a condition, with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import write_config

INTERVAL = "0.1"
SETTLE = "0.5"
DEADLINE_SECONDS = 30.0


def wait_for(
    condition: Callable[[], bool], *, what: str, seconds: float = DEADLINE_SECONDS
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` past the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def count(url: str, query: str = "SELECT count(*) FROM events") -> int:
    """A count; 0 while the pgingest schema is not made yet (no run has started)."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute(query).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    assert row is not None
    return int(row[0])


def csv_rows(first: int, number: int) -> str:
    return "id,name\n" + "".join(f"{i},n{i}\n" for i in range(first, first + number))


def drop_by_rename(folder: Path, name: str, text: str) -> None:
    """Publish a file the usual way: write it elsewhere, then rename it into place."""
    staging = folder.parent / "staging"
    staging.mkdir(exist_ok=True)
    temporary = staging / name
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, folder / name)


class WatchProcess:
    """``pgingest watch`` in a process of its own; its standard error goes to a file."""

    def __init__(self, config: Path, url: str, *extra: str) -> None:
        self.log = config.parent / f"watch-{time.monotonic_ns()}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pgingest",
                "watch",
                str(config),
                "--database-url",
                url,
                "--interval",
                INTERVAL,
                "--settle",
                SETTLE,
                "--workers",
                "2",
                "--connections",
                "2",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, *, seconds: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(seconds)
        self._log_file.close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._log_file.close()


@pytest.fixture
def landing(tmp_path: Path, db: psycopg.Connection[Any]) -> Path:
    """An ``incoming`` folder, a config watching it, and the table ``events``."""
    db.execute("CREATE TABLE events (id integer, name text)")
    (tmp_path / "incoming").mkdir()
    write_config(
        tmp_path,
        {"sources": [{"name": "events", "paths": ["incoming/*.csv"], "table": "events"}]},
    )
    return tmp_path


@pytest.fixture
def watching(landing: Path, database_url: str) -> Iterator[WatchProcess]:
    watch = WatchProcess(landing / "data_files.json", database_url)
    try:
        yield watch
    finally:
        if watch.process.poll() is None:
            watch.kill()


def loaded_manifest(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT path, count(*) FROM pgingest.files WHERE status = 'loaded' GROUP BY path"
        ).fetchall()
    return [(str(path), int(times)) for path, times in found]


def test_files_pending_at_start_and_renamed_into_place_load_once(
    landing: Path, database_url: str
) -> None:
    (landing / "incoming" / "waiting.csv").write_text(csv_rows(0, 5), encoding="utf-8")
    os.utime(landing / "incoming" / "waiting.csv", (time.time() - 60, time.time() - 60))
    watch = WatchProcess(landing / "data_files.json", database_url)
    try:
        wait_for(lambda: count(database_url) == 5, what="the file waiting at start")
        drop_by_rename(landing / "incoming", "renamed.csv", csv_rows(100, 7))
        wait_for(lambda: count(database_url) == 12, what="the renamed file")
        wait_for(lambda: "renamed.csv: loaded 7 rows" in watch.output(), what="its log line")
        time.sleep(0.5)  # a few more ticks: nothing is loaded twice
        assert count(database_url) == 12
        assert sorted(times for _path, times in loaded_manifest(database_url)) == [1, 1]
        assert count(database_url, "SELECT count(*) FROM pgingest.runs") >= 2
    finally:
        assert watch.stop() == 0


def test_a_slowly_written_file_is_never_loaded_in_part(
    watching: WatchProcess, landing: Path, database_url: str
) -> None:
    settle = float(SETTLE)
    target = landing / "incoming" / "slow.csv"
    wait_for(lambda: "watching" in watching.output(), what="the watch to start")
    seen_counts: set[int] = set()
    with target.open("w", encoding="utf-8") as handle:
        handle.write("id,name\n")
        handle.flush()
        for chunk in range(8):  # 8 writes, each well inside the settle time of the last
            handle.write("".join(f"{chunk * 10 + i},n\n" for i in range(10)))
            handle.flush()
            seen_counts.add(count(database_url))
            time.sleep(settle / 3)
    wait_for(lambda: count(database_url) == 80, what="the whole slow file")
    assert seen_counts == {0}, f"rows appeared while the file was written: {seen_counts}"
    time.sleep(settle)
    assert count(database_url) == 80
    assert loaded_manifest(database_url) == [(str(target), 1)]


def test_a_burst_of_200_files_loads_together_exactly_once(
    watching: WatchProcess, landing: Path, database_url: str
) -> None:
    wait_for(lambda: "watching" in watching.output(), what="the watch to start")
    for index in range(200):
        drop_by_rename(landing / "incoming", f"burst-{index:03}.csv", csv_rows(index * 3, 3))
    wait_for(lambda: count(database_url) == 600, what="all 200 files")
    manifest = loaded_manifest(database_url)
    assert len(manifest) == 200
    assert {times for _path, times in manifest} == {1}
    # Files arriving together are loaded together: far fewer runs than files.
    assert count(database_url, "SELECT count(*) FROM pgingest.runs") < 50


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    landing: Path, database_url: str
) -> None:
    files, rows_each = 120, 50
    done = threading.Event()

    def produce() -> None:
        for index in range(files):
            drop_by_rename(
                landing / "incoming", f"s-{index:03}.csv", csv_rows(index * rows_each, rows_each)
            )
            time.sleep(0.025)
        done.set()

    first = WatchProcess(landing / "data_files.json", database_url)
    wait_for(lambda: "watching" in first.output(), what="the watch to start")
    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: count(database_url) > 0, what="the first rows")
        assert not done.is_set(), "every file landed before the first rows"
        first.kill()  # SIGKILL while files keep landing (and a batch may be in flight)
    finally:
        producer.join()
    assert done.is_set()
    assert count(database_url) < files * rows_each, "the kill came after everything loaded"
    second = WatchProcess(landing / "data_files.json", database_url)
    try:
        wait_for(lambda: count(database_url) >= files * rows_each, what="every file")
        time.sleep(0.5)
        assert count(database_url) == files * rows_each
        assert count(database_url, "SELECT count(DISTINCT id) FROM events") == files * rows_each
        manifest = loaded_manifest(database_url)
        assert len(manifest) == files
        assert {times for _path, times in manifest} == {1}
    finally:
        assert second.stop() == 0


def test_sigterm_and_sigint_exit_0_within_10_seconds(
    watching: WatchProcess, landing: Path, database_url: str
) -> None:
    drop_by_rename(landing / "incoming", "a.csv", csv_rows(0, 3))
    wait_for(lambda: count(database_url) == 3, what="the file")
    started = time.monotonic()
    assert watching.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    assert "Traceback" not in watching.output()
    again = WatchProcess(landing / "data_files.json", database_url)
    wait_for(lambda: "watching" in again.output(), what="the second watch to start")
    started = time.monotonic()
    assert again.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < 10
    assert count(database_url) == 3


def test_sigterm_during_a_large_load_exits_0_and_keeps_the_table_whole(
    watching: WatchProcess, landing: Path, database_url: str
) -> None:
    big = 400_000
    drop_by_rename(landing / "incoming", "big.csv", csv_rows(0, big))
    wait_for(
        lambda: "loading 1 new file" in watching.output() or count(database_url) > 0,
        what="the load to start",
    )
    started = time.monotonic()
    assert watching.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    assert count(database_url) in (0, big)  # finished, or rolled back: never part of it
    again = WatchProcess(landing / "data_files.json", database_url)
    try:
        wait_for(lambda: count(database_url) == big, what="the big file after the restart")
        assert loaded_manifest(database_url) == [(str(landing / "incoming" / "big.csv"), 1)]
        wait_for(lambda: "watching" in again.output(), what="the second watch to be up")
    finally:
        code = again.stop()
    assert code == 0, again.output()


def test_a_failed_file_is_recorded_once_and_the_watch_goes_on(
    watching: WatchProcess, landing: Path, database_url: str
) -> None:
    drop_by_rename(landing / "incoming", "bad.csv", "id,name\nnot-a-number,x\n" * 1)
    drop_by_rename(landing / "incoming", "good.csv", csv_rows(0, 4))
    failed = "SELECT count(*) FROM pgingest.files WHERE status = 'failed' AND path LIKE '%bad.csv'"
    wait_for(lambda: count(database_url, failed) == 1, what="the failed file's manifest row")
    wait_for(lambda: count(database_url) == 4, what="the good file")
    time.sleep(1.0)  # many ticks: a failed file is not retried in a loop
    assert count(database_url, failed) == 1
    drop_by_rename(landing / "incoming", "later.csv", csv_rows(10, 2))
    wait_for(lambda: count(database_url) == 6, what="a file after the failure")
    assert watching.process.poll() is None
    status = subprocess.run(
        [sys.executable, "-m", "pgingest", "status", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
        cwd=landing,
    )
    assert "bad.csv" in status.stdout + status.stderr


def test_json_logs_metrics_and_healthz(landing: Path, database_url: str) -> None:
    watch = WatchProcess(
        landing / "data_files.json", database_url, "--log-format", "json", "--metrics-port", "0"
    )
    try:
        wait_for(lambda: "serving metrics at" in watch.output(), what="the metrics server")
        url = next(
            line.split("serving metrics at ", 1)[1].strip()
            for line in watch.output().splitlines()
            if "serving metrics at " in line
        )
        drop_by_rename(landing / "incoming", "m.csv", csv_rows(0, 9))
        wait_for(lambda: count(database_url) == 9, what="the file")
        wait_for(lambda: '"rows": 9' in watch.output(), what="the JSON log line")
        lines = [json.loads(line) for line in watch.output().splitlines() if line.startswith("{")]
        loaded = [entry for entry in lines if entry.get("path", "").endswith("m.csv")]
        assert loaded
        assert loaded[0]["figures"]["rows"] == 9
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        assert "pgingest_watch_batches_total" in text
        assert "pgingest_rows_committed_total 9.0" in text
        with urllib.request.urlopen(url.replace("/metrics", "/healthz"), timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read())["database_ok"] is True
        runs = subprocess.run(
            [sys.executable, "-m", "pgingest", "runs", "--database-url", database_url],
            capture_output=True,
            text=True,
            check=False,
        )
        assert runs.returncode == 0
        assert "succeeded" in runs.stdout
    finally:
        assert watch.stop() == 0


class _Gate:
    """A TCP proxy to PostgreSQL that can go down (every connection cut, new ones refused)
    and come back: the database restarting, without touching the shared server.

    A ``host`` that is a folder is a Unix-socket directory (the embedded PostgreSQL).
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._is_up = True
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._is_up:
                client.close()
                continue
            try:
                server = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        host, port = self._upstream
        if not host.startswith("/"):
            return socket.create_connection(self._upstream)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.connect(f"{host}/.s.PGSQL.{port}")
        except OSError:
            server.close()
            raise
        return server

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            source.close()  # each socket is the source of exactly one pipe

    def down(self) -> None:
        self._is_up = False
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._sockets.clear()

    def up(self) -> None:
        self._is_up = True

    def close(self) -> None:
        self.down()
        self._listener.close()


def test_the_database_going_away_is_waited_out_and_nothing_is_lost(
    landing: Path, database_url: str
) -> None:
    parts = conninfo_to_dict(database_url)
    gate = _Gate(str(parts.get("host") or "127.0.0.1"), int(parts.get("port") or 5432))
    proxied = make_conninfo(database_url, host="127.0.0.1", port=str(gate.port))
    watch = WatchProcess(
        landing / "data_files.json",
        proxied,
        "--metrics-port",
        "0",
        "--db-attempts",
        "2",
        "--retry-deadline",
        "1",
    )
    try:
        wait_for(lambda: "serving metrics at" in watch.output(), what="the metrics server")
        health = next(
            line.split("serving metrics at ", 1)[1].strip().replace("/metrics", "/healthz")
            for line in watch.output().splitlines()
            if "serving metrics at " in line
        )
        drop_by_rename(landing / "incoming", "before.csv", csv_rows(0, 5))
        wait_for(lambda: count(database_url) == 5, what="the file before the outage")
        gate.down()
        for index in range(5):
            drop_by_rename(landing / "incoming", f"during-{index}.csv", csv_rows(100 + index, 1))
        # A loaded machine can take a while to notice: the files settle, a run starts, its
        # connection is refused and retried under the db policy before the line is logged.
        wait_for(
            lambda: "cannot be reached" in watch.output(),
            what="the outage in the log",
            seconds=2 * DEADLINE_SECONDS,
        )

        def unhealthy() -> bool:
            try:
                urllib.request.urlopen(health, timeout=5)
            except urllib.error.HTTPError as error:
                return error.code == 503
            return False

        wait_for(unhealthy, what="/healthz to say 503")
        assert count(database_url) == 5
        gate.up()
        wait_for(lambda: count(database_url) == 10, what="the files after the outage", seconds=60)
        assert watch.process.poll() is None
        assert "Traceback" not in watch.output()
        manifest = loaded_manifest(database_url)
        assert len(manifest) == 6
        assert {times for _path, times in manifest} == {1}
    finally:
        code = watch.stop()
        gate.close()
    assert code == 0


def test_the_watch_connections_killed_by_the_server_are_retried(
    watching: WatchProcess, landing: Path, database_url: str
) -> None:
    name = conninfo_to_dict(database_url)["dbname"]
    stop = threading.Event()

    def terminate() -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            while not stop.is_set():
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                time.sleep(0.05)

    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        for index in range(10):
            drop_by_rename(landing / "incoming", f"k-{index}.csv", csv_rows(index * 10, 10))
        time.sleep(1.0)
    finally:
        stop.set()
        killer.join()
    wait_for(lambda: count(database_url) == 100, what="every file once the killing stops")
    assert watching.process.poll() is None
    assert {times for _path, times in loaded_manifest(database_url)} == {1}


def test_a_changed_file_follows_on_change(
    tmp_path: Path, db: psycopg.Connection[Any], database_url: str
) -> None:
    db.execute("CREATE TABLE prices (id integer PRIMARY KEY, price integer)")
    (tmp_path / "incoming").mkdir()
    config = write_config(
        tmp_path,
        {
            "sources": [
                {
                    "name": "prices",
                    "paths": ["incoming/*.csv"],
                    "table": "prices",
                    "mode": "upsert",
                    "key": ["id"],
                    "on_change": "reload",
                }
            ]
        },
    )
    total = "SELECT coalesce(sum(price), 0) FROM prices"
    watch = WatchProcess(config, database_url)
    try:
        drop_by_rename(tmp_path / "incoming", "p.csv", "id,price\n1,10\n2,20\n")
        wait_for(lambda: count(database_url, total) == 30, what="the first version")
        drop_by_rename(tmp_path / "incoming", "p.csv", "id,price\n1,11\n2,22\n")
        wait_for(lambda: count(database_url, total) == 33, what="the changed file reloaded")
        assert count(database_url, "SELECT count(*) FROM prices") == 2
    finally:
        code = watch.stop()
    assert code == 0


def test_a_replace_source_waits_until_every_file_is_complete(
    tmp_path: Path, db: psycopg.Connection[Any], database_url: str
) -> None:
    db.execute("CREATE TABLE events (id integer, name text)")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    config = write_config(
        tmp_path,
        {
            "sources": [
                {"name": "e", "paths": ["incoming/*.csv"], "table": "events", "mode": "replace"}
            ]
        },
    )
    watch = WatchProcess(config, database_url)
    try:
        drop_by_rename(incoming, "a.csv", csv_rows(0, 5))
        wait_for(lambda: count(database_url) == 5, what="the first file")
        seen: set[int] = set()
        with (incoming / "b.csv").open("w", encoding="utf-8") as handle:
            handle.write("id,name\n")
            handle.flush()
            for chunk in range(6):
                handle.write("".join(f"{100 + chunk * 10 + i},n\n" for i in range(10)))
                handle.flush()
                if chunk == 1:  # a complete file lands while b.csv is still being written
                    drop_by_rename(incoming, "c.csv", csv_rows(500, 3))
                seen.add(count(database_url))
                time.sleep(float(SETTLE) / 3)
        wait_for(lambda: count(database_url) == 5 + 60 + 3, what="all three files")
        assert seen == {5}, f"the table changed while b.csv was being written: {seen}"
    finally:
        code = watch.stop()
    assert code == 0
