"""A watch on an S3 prefix (moto's server on 127.0.0.1) that keeps receiving objects.

The watch runs in this process (``WatchService``, the library entry point of
``pgingest watch``) on a thread, and is stopped with ``stop()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.pipeline import RunOptions
from pgingest.watch import WatchOptions, WatchService
from tests.test_watch import count, csv_rows, loaded_manifest, wait_for

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

BUCKET = "pgingest-watch"


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty bucket on a moto server; credentials and endpoint from the environment."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # an earlier test's endpoint is cached
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        server.stop()


def test_new_objects_under_an_s3_prefix_load_once_each(
    bucket: Any, db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id integer, name text)")
    bucket.put_object(Bucket=BUCKET, Key="incoming/first.csv", Body=csv_rows(0, 5).encode())
    config = parse_config(
        {
            "sources": [
                {"name": "events", "paths": [f"s3://{BUCKET}/incoming/*.csv"], "table": "events"}
            ]
        },
        base_dir=tmp_path,
    )
    service = WatchService(
        config,
        WatchOptions(interval=0.1, settle=0.5, run_options=RunOptions(database_url=database_url)),
    )
    thread = threading.Thread(target=service.serve)
    thread.start()
    try:
        wait_for(lambda: count(database_url) == 5, what="the object there at start")
        for index in range(6):
            body = csv_rows(100 + index * 10, 10).encode()
            bucket.put_object(Bucket=BUCKET, Key=f"incoming/new-{index}.csv", Body=body)
            time.sleep(0.05)
        bucket.put_object(Bucket=BUCKET, Key="other/ignored.csv", Body=csv_rows(900, 3).encode())
        wait_for(lambda: count(database_url) == 65, what="the new objects")
        time.sleep(0.5)  # more listings: nothing loads twice, nothing outside the prefix
        assert count(database_url) == 65
        manifest = loaded_manifest(database_url)
        assert len(manifest) == 7
        assert {times for _path, times in manifest} == {1}
        assert service.state.snapshot()["database_ok"] is True
    finally:
        service.stop()
        thread.join(10)
    assert not thread.is_alive()
