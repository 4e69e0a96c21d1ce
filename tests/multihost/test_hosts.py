"""The Dask executor across separate network hosts (see topology.py for the addresses).

The client runs ``pgingest run --executor dask --scheduler tcp://10.15.0.1:8786``
on its own host; the workers parse and load on theirs, over TCP to a
PostgreSQL that listens on the database host's address only, reading files
from a folder every host sees or from S3 on the s3 host. Hosts are cut off,
killed and flapped under a running load; every row lands exactly once.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.multihost.topology import ADDRESSES, S3_ENVIRONMENT, Topology

pytestmark = pytest.mark.multihost

BUCKET = "hosts-data"
# The whole unit retried: long enough to outlast a link that flaps for a few seconds.
DB_RETRY = {"attempts": 8, "initial_delay": 0.5, "multiplier": 2.0, "max_delay": 4.0}


def _csv_files(folder: Path, *, files: int, rows: int, first_id: int = 0) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        start = first_id + index * rows
        lines = "".join(f"{i},label {i},{i % 97}.5\n" for i in range(start, start + rows))
        (folder / f"part-{index:02d}.csv").write_text("id,label,amount\n" + lines)
    return files * rows


def _config(folder: Path, sources: list[dict[str, Any]]) -> Path:
    path = folder / "data_files.json"
    settings = {"connections": 2, "retry": {"db": DB_RETRY}}
    path.write_text(json.dumps({"settings": settings, "sources": sources}))
    path.chmod(0o644)
    return path


def _source(name: str, pattern: str) -> dict[str, Any]:
    return {"name": name, "paths": [pattern], "table": name, "create": True}


def _run_args(config: Path, url: str, report: Path, scheduler: str | None) -> list[str]:
    args = ["run", str(config), "--database-url", url, "--report", str(report)]
    if scheduler is not None:
        args += ["--executor", "dask", "--scheduler", scheduler]
    return args


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return conn.execute(sql.encode()).fetchall()


def _fingerprint(hosts: Topology, url: str, table: str) -> tuple[Any, ...]:
    """Row count, distinct ids and an order-independent checksum of a table's rows."""
    (row,) = hosts.hosts["client"].call(
        _query,
        url,
        f"SELECT count(*), count(DISTINCT id), "
        f"md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM {table} t",
    )
    return tuple(row)


@pytest.fixture
def new_database(hosts: Topology) -> Iterator[Any]:
    """Makes fresh databases on the database host; drops them afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"hosts_{uuid.uuid4().hex[:10]}"
        hosts.hosts["client"].call(_query_none, hosts.database_url, f"CREATE DATABASE {name}")
        made.append(name)
        return hosts.database_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    for name in made:
        hosts.hosts["client"].call(
            _query_none, hosts.database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )


def _query_none(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.encode())


def _upload(objects: dict[str, bytes]) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=S3_ENVIRONMENT["AWS_ENDPOINT_URL"],
        aws_access_key_id=S3_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENVIRONMENT["AWS_DEFAULT_REGION"],
    )
    buckets = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in buckets:
        client.create_bucket(Bucket=BUCKET)
    for key, body in objects.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _wait_for_copy(hosts: Topology, url: str, *, from_address: str | None, timeout: float) -> None:
    """Returns once a COPY runs in the database (from ``from_address``, when given)."""
    where = "query LIKE 'COPY %' AND state = 'active' AND datname = current_database()"
    if from_address is not None:
        where += f" AND client_addr = '{from_address}'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hosts.hosts["client"].call(
            _query, url, f"SELECT count(*) FROM pg_stat_activity WHERE {where}"
        )[0][0]:
            return
        time.sleep(0.02)
    raise AssertionError(f"no COPY from {from_address or 'any host'} within {timeout} s")


def _connections_from(hosts: Topology, database: str) -> set[str]:
    """Addresses that opened connections to ``database`` (the server logs each one)."""
    log = (hosts.folder / "logs" / "postgres.log").read_text(errors="replace")
    return set(re.findall(rf"^(\S+) {database} LOG:  connection authorized", log, re.MULTILINE))


def test_dask_across_hosts_loads_the_same_tables_as_the_local_executor(
    hosts: Topology, new_database: Any, folder: Path
) -> None:
    shared = _csv_files(folder / "shared", files=4, rows=5_000)
    hosts.hosts["client"].call(
        _upload,
        {
            f"events/part-{i}.csv": (
                "id,label,amount\n"
                + "".join(f"{n},s3 {n},{n % 13}.25\n" for n in range(i * 3000, (i + 1) * 3000))
            ).encode()
            for i in range(3)
        },
    )
    config = _config(
        folder,
        [
            _source("from_folder", str(folder / "shared" / "*.csv")),
            _source("from_s3", f"s3://{BUCKET}/events/*.csv"),
        ],
    )
    by_dask, by_local = new_database(), new_database()
    dask = hosts.pgingest(_run_args(config, by_dask, folder / "dask.json", hosts.scheduler_address))
    assert dask.returncode == 0, dask.stdout + dask.stderr
    local = hosts.pgingest(_run_args(config, by_local, folder / "local.json", None))
    assert local.returncode == 0, local.stdout + local.stderr
    for table, rows in (("from_folder", shared), ("from_s3", 9_000)):
        fingerprint = _fingerprint(hosts, by_dask, table)
        assert fingerprint[:2] == (rows, rows)
        assert fingerprint == _fingerprint(hosts, by_local, table)
    assert _report(folder / "dask.json")["files"]["succeeded"] == 7
    # Both worker hosts connected to the database themselves (the server logs each address).
    loaders = _connections_from(hosts, by_dask.rsplit("/", 1)[1])
    assert {ADDRESSES["worker-a"], ADDRESSES["worker-b"]} <= loaders


def test_a_worker_host_cut_off_mid_run_loses_and_duplicates_nothing(
    hosts: Topology, new_database: Any, folder: Path
) -> None:
    expected = _csv_files(folder / "data", files=10, rows=30_000)
    config = _config(folder, [_source("events", str(folder / "data" / "*.csv"))])
    url = new_database()
    scheduler_log = hosts.folder / "logs" / "scheduler.log"
    logged_before = len(scheduler_log.read_text())
    started = time.monotonic()
    run = hosts.pgingest_background(
        _run_args(config, url, folder / "r.json", hosts.scheduler_address)
    )
    try:
        _wait_for_copy(hosts, url, from_address=ADDRESSES["worker-a"], timeout=90)
        victim = hosts.hosts["worker-a"]
        victim.set_link(up=False)  # the cable first: nothing it does from now on gets out
        time.sleep(0.5)
        victim.kill_processes()
        output, _ = run.communicate(timeout=150)
    finally:
        run.kill()
    (folder / "pgingest.out").write_text(output or "")
    assert run.returncode == 0, output
    assert _fingerprint(hosts, url, "events")[:2] == (expected, expected)
    # The scheduler gave worker-a up (no heartbeat) and ran its tasks on worker-b.
    removed = f"Remove worker addr: tcp://{ADDRESSES['worker-a']}:"
    assert removed in scheduler_log.read_text()[logged_before:]
    report = _report(folder / "r.json")
    assert report["files"]["succeeded"] == 10
    assert report["failed_files"] == []
    manifest = hosts.hosts["client"].call(
        _query, url, "SELECT count(*), count(DISTINCT path), sum(rows) FROM pgingest.files"
    )
    assert manifest == [(10, 10, expected)]
    assert time.monotonic() - started < 150


def test_the_database_link_flapping_is_retried_exactly_once(
    hosts: Topology, new_database: Any, folder: Path
) -> None:
    expected = _csv_files(folder / "data", files=8, rows=30_000)
    config = _config(folder, [_source("events", str(folder / "data" / "*.csv"))])
    url = new_database()
    # tcp_user_timeout: a connection whose data goes unacknowledged this long fails (libpq),
    # so the unit is retried rather than waiting for TCP to give up after minutes.
    flaky = url + "?tcp_user_timeout=2000"
    run = hosts.pgingest_background(
        _run_args(config, flaky, folder / "r.json", hosts.scheduler_address)
    )
    try:
        _wait_for_copy(hosts, url, from_address=None, timeout=90)
        database = hosts.hosts["db"]
        database.set_link(up=False)
        time.sleep(4)
        database.set_link(up=True)
        output, _ = run.communicate(timeout=150)
    finally:
        run.kill()
    (folder / "pgingest.out").write_text(output or "")
    assert run.returncode == 0, output
    assert _fingerprint(hosts, url, "events")[:2] == (expected, expected)
    report = _report(folder / "r.json")
    assert report["failed_files"] == []
    assert report["retries"].get("db", 0) >= 1, report["retries"]
    manifest = hosts.hosts["client"].call(
        _query, url, "SELECT count(*), sum(rows) FROM pgingest.files"
    )
    assert manifest == [(8, expected)]


def test_a_path_only_the_client_has_fails_each_file_naming_the_worker_host(
    hosts: Topology, new_database: Any, folder: Path
) -> None:
    _csv_files(folder / "staged", files=3, rows=100)
    private = folder / "private"
    private.mkdir()
    config = _config(folder, [_source("events", str(private / "*.csv"))])
    url = new_database()
    started = time.monotonic()
    result = hosts.pgingest(
        _run_args(config, url, folder / "r.json", hosts.scheduler_address),
        private_folder=(private, folder / "staged"),
    )
    assert time.monotonic() - started < 60  # a clear failure, not a hang
    assert result.returncode == 1, result.stdout + result.stderr
    failed = _report(folder / "r.json")["failed_files"]
    assert sorted(f["path"] for f in failed) == [str(private / f"part-0{i}.csv") for i in range(3)]
    for failure in failed:
        assert re.search(
            r"not found on Dask worker host worker-[ab] \(tcp://10\.15\.0\.1[12]:\d+\)",
            failure["error"],
        ), failure["error"]
        assert "every worker must see" in failure["error"]
    statuses = "SELECT status, count(*) FROM pgingest.files GROUP BY status"
    assert hosts.hosts["client"].call(_query, url, statuses) == [("failed", 3)]
    assert hosts.hosts["client"].call(_query, url, "SELECT to_regclass('events')") == [(None,)]
    # The client itself sees them: the local executor loads the same config.
    local = hosts.pgingest(
        _run_args(config, url, folder / "l.json", None), private_folder=(private, folder / "staged")
    )
    assert local.returncode == 0, local.stdout + local.stderr
    assert _fingerprint(hosts, url, "events")[:2] == (300, 300)


def test_the_embedded_database_is_refused_with_a_reason(hosts: Topology, folder: Path) -> None:
    _csv_files(folder / "data", files=1, rows=10)
    config = _config(folder, [_source("events", str(folder / "data" / "*.csv"))])
    try:
        result = hosts.pgingest(
            ["run", str(config), "--executor", "dask", "--scheduler", hosts.scheduler_address]
        )
    finally:
        hosts.pgingest(["db-stop", str(config)])
    assert result.returncode == 2, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert "Dask workers cannot reach the embedded PostgreSQL" in output
    assert "DATABASE_URL" in output
