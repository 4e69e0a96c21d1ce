"""Remote sources against real servers on 127.0.0.1: S3 (moto's server mode) and HTTP.

A small proxy in front of moto injects transient failures (a 503 on the first
GET of an object), so the fetch retry is exercised over a real connection.
"""

from __future__ import annotations

import gzip
import http.client
import http.server
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.summary import RunReport

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BUCKET = "pgingest-data"
# Turns botocore's own retries off, so an injected failure reaches pgingest's retry policy.
NO_CLIENT_RETRIES = {"config_kwargs": {"retries": {"total_max_attempts": 1}}}
FAST_RETRY = {"file": {"attempts": 3, "initial_delay": 0.01, "max_delay": 0.05}}


class _FaultProxy(http.server.ThreadingHTTPServer):
    """Forwards requests to moto; the first ``failures[path]`` GETs of a path get a 503."""

    daemon_threads = True

    def __init__(self, upstream: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.failures: Counter[str] = Counter()
        self.gets: Counter[str] = Counter()
        self.lock = threading.Lock()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # quiet: the test reads the counters

    def _forward(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.command == "GET":
            with self.server.lock:
                self.server.gets[path] += 1
                fail = self.server.failures[path] > 0
                if fail:
                    self.server.failures[path] -= 1
            if fail:
                body = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable'
                    b"</Code><Message>injected</Message></Error>"
                )
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    # http.server dispatches to do_<METHOD>; every method goes through the proxy.
    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward  # noqa: N815


@pytest.fixture(scope="module")
def moto() -> Iterator[int]:
    """A real S3 API (moto's server mode) on 127.0.0.1; yields its port."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server._server.server_port
    finally:
        server.stop()


@pytest.fixture
def s3(moto: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, _FaultProxy]]:
    """An empty bucket behind the fault proxy; credentials and endpoint from the environment."""
    proxy = _FaultProxy(moto)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto}")
    for bucket in client.list_buckets().get("Buckets", []):
        objects = client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        for item in objects:
            client.delete_object(Bucket=bucket["Name"], Key=item["Key"])
        client.delete_bucket(Bucket=bucket["Name"])
    client.create_bucket(Bucket=BUCKET)
    # fsspec keeps one file system per set of options; the endpoint came from the environment
    # of an earlier test, so forget them.
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield client, proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def _csv(first: int, count: int) -> bytes:
    return ("id,name\n" + "".join(f"{i},n{i}\n" for i in range(first, first + count))).encode()


def test_glob_over_a_prefix_loads_each_object_and_a_rerun_only_new_ones(
    s3: tuple[Any, _FaultProxy], db: psycopg.Connection[Any], load: Callable[..., RunReport]
) -> None:
    client, _proxy = s3
    client.put_object(Bucket=BUCKET, Key="events/2024/01.csv", Body=_csv(1, 3))
    client.put_object(Bucket=BUCKET, Key="events/2024/02.csv.gz", Body=gzip.compress(_csv(4, 2)))
    client.put_object(Bucket=BUCKET, Key="events/2025/01.csv", Body=_csv(6, 4))
    client.put_object(Bucket=BUCKET, Key="events/notes.txt", Body=b"not data")
    client.put_object(Bucket=BUCKET, Key="other/01.csv", Body=_csv(100, 1))
    config = {
        "sources": [
            {
                "name": "events",
                "paths": [f"s3://{BUCKET}/events/**/*.csv*"],
                "table": "events",
                "create": True,
            }
        ]
    }
    report = load(config)
    assert report.failed_files == []
    assert report.files_succeeded == 3
    assert db.execute("SELECT count(*), sum(id) FROM events").fetchone() == (9, 45)
    paths = [r[0] for r in db.execute("SELECT path FROM pgingest.files ORDER BY path")]
    assert paths == [
        f"s3://{BUCKET}/events/2024/01.csv",
        f"s3://{BUCKET}/events/2024/02.csv.gz",
        f"s3://{BUCKET}/events/2025/01.csv",
    ]
    client.put_object(Bucket=BUCKET, Key="events/2025/02.csv", Body=_csv(10, 1))
    again = load(config)
    assert (again.files_succeeded, again.files_skipped) == (1, 3)
    assert db.execute("SELECT count(*) FROM events").fetchone() == (10,)


def test_an_injected_transient_failure_is_retried_under_the_file_policy(
    s3: tuple[Any, _FaultProxy],
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, proxy = s3
    client.put_object(Bucket=BUCKET, Key="flaky/a.csv", Body=_csv(1, 5))
    proxy.failures[f"/{BUCKET}/flaky/a.csv"] = 1
    source = {
        "name": "flaky",
        "paths": [f"s3://{BUCKET}/flaky/*.csv"],
        "table": "flaky",
        "create": True,
        "storage_options": NO_CLIENT_RETRIES,
    }
    with caplog.at_level(logging.WARNING, logger="pgingest"):
        report = load({"settings": {"retry": FAST_RETRY}, "sources": [source]})
    assert report.failed_files == []
    assert db.execute("SELECT count(*) FROM flaky").fetchone() == (5,)
    assert proxy.gets[f"/{BUCKET}/flaky/a.csv"] == 2  # the 503, then the fetch that worked
    assert any(
        "retrying" in r.getMessage() and "flaky/a.csv" in r.getMessage() for r in caplog.records
    )


def test_failures_past_the_policy_fail_the_file_with_a_clear_error(
    s3: tuple[Any, _FaultProxy], load: Callable[..., RunReport]
) -> None:
    client, proxy = s3
    client.put_object(Bucket=BUCKET, Key="down/a.csv", Body=_csv(1, 2))
    proxy.failures[f"/{BUCKET}/down/a.csv"] = 10
    source = {
        "name": "down",
        "paths": [f"s3://{BUCKET}/down/a.csv"],
        "table": "down",
        "create": True,
        "storage_options": NO_CLIENT_RETRIES,
    }
    report = load({"settings": {"retry": FAST_RETRY}, "sources": [source]})
    (failed,) = report.failed_files
    assert failed.path == f"s3://{BUCKET}/down/a.csv"
    assert "cannot fetch it" in failed.error
    assert proxy.gets[f"/{BUCKET}/down/a.csv"] == 3


def test_a_missing_object_is_a_failed_file(
    s3: tuple[Any, _FaultProxy], load: Callable[..., RunReport]
) -> None:
    report = load({"sources": [{"name": "m", "paths": [f"s3://{BUCKET}/none.csv"], "table": "m"}]})
    (failed,) = report.failed_files
    assert "none.csv: file not found" in failed.error


def test_storage_options_name_the_endpoint_and_parquet_loads_from_s3(
    s3: tuple[Any, _FaultProxy],
    moto: int,
    monkeypatch: pytest.MonkeyPatch,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    client, _proxy = s3
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    pq.write_table(pa.table({"id": [1, 2, 3], "score": [0.5, 1.5, None]}), tmp_path / "p.parquet")
    client.put_object(Bucket=BUCKET, Key="pq/p.parquet", Body=(tmp_path / "p.parquet").read_bytes())
    source = {
        "name": "pq",
        "paths": [f"s3://{BUCKET}/pq/*.parquet"],
        "table": "pq",
        "create": True,
        "storage_options": {"endpoint_url": f"http://127.0.0.1:{moto}"},
    }
    report = load({"sources": [source]})
    assert report.failed_files == []
    assert db.execute("SELECT id, score FROM pq ORDER BY id").fetchall() == [
        (1, 0.5),
        (2, 1.5),
        (3, None),
    ]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain web server on 127.0.0.1 serving a folder."""
    folder = tmp_path / "site"
    folder.mkdir()
    handler = partial(_QuietFiles, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args


def test_http_urls_load_and_cannot_be_globbed(
    web: tuple[Path, str], db: psycopg.Connection[Any], load: Callable[..., RunReport]
) -> None:
    folder, base = web
    (folder / "a.ndjson").write_text('{"id": 1, "tags": {"x": 1}}\n{"id": 2, "tags": null}\n')
    report = load(
        {"sources": [{"name": "w", "paths": [f"{base}/a.ndjson"], "table": "w", "create": True}]}
    )
    assert report.failed_files == []
    assert db.execute("SELECT id, tags FROM w ORDER BY id").fetchall() == [(1, {"x": 1}), (2, None)]
    assert db.execute("SELECT path FROM pgingest.files").fetchone() == (f"{base}/a.ndjson",)
    from pgingest.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot be globbed"):
        load({"sources": [{"name": "g", "paths": [f"{base}/*.csv"], "table": "g"}]})
