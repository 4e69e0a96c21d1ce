"""The parallel engine: same result whatever the parallelism, flat memory, bounded connections."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from pgingest.config import parse_config
from pgingest.discover import SourceFile
from pgingest.pipeline import RunOptions, run
from pgingest.report.reporter import NullReporter
from pgingest.summary import RunReport


def _write(folder: Path, files: int, rows: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        start = index * rows
        body = "".join(
            f'{i},"note, {i}\nsecond line",{i % 97}.25,2024-01-{1 + i % 28:02d} 10:00:00+02\n'
            for i in range(start, start + rows)
        )
        (folder / f"part-{index}.csv").write_text("id,note,amount,at\n" + body)


TABLE = "(id bigint, note text, amount numeric(8,2), at timestamptz)"


def test_parallel_run_gives_the_same_table_as_one_worker(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    _write(tmp_path / "data", 8, 5_000)
    db.execute(f"CREATE TABLE serial {TABLE}")
    db.execute(f"CREATE TABLE parallel {TABLE}")
    source = {"name": "s", "paths": ["data/*.csv"]}
    one = load(
        {
            "settings": {"workers": 1, "connections": 1, "batch_size": 700},
            "sources": [{**source, "table": "serial"}],
        }
    )
    many = load(
        {
            "settings": {
                "workers": 4,
                "connections": 3,
                "batch_size": 700,
                "chunk_bytes": 64 << 10,
            },
            "sources": [{**source, "table": "parallel"}],
        }
    )
    assert one.records_inserted == many.records_inserted == 40_000
    assert (
        db.execute(
            "(SELECT * FROM serial EXCEPT ALL SELECT * FROM parallel) UNION ALL "
            "(SELECT * FROM parallel EXCEPT ALL SELECT * FROM serial)"
        ).fetchall()
        == []
    )


class _ArrowMemory(NullReporter):
    """Samples Arrow's allocated bytes after every batch."""

    def __init__(self) -> None:
        self.peak = 0
        self.batches = 0

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        self.batches += 1
        self.peak = max(self.peak, pa.total_allocated_bytes())


def test_memory_stays_flat_however_many_batches(database_url: str, tmp_path: Path) -> None:
    peaks = []
    for rows in (20_000, 80_000):
        folder = tmp_path / f"r{rows}"
        _write(folder / "data", 1, rows)
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute(f"DROP TABLE IF EXISTS t; CREATE TABLE t {TABLE}")
        memory = _ArrowMemory()
        config = parse_config(
            {
                "settings": {"workers": 1, "batch_size": 1000},
                "sources": [{"name": "s", "paths": ["data/*.csv"], "table": "t"}],
            },
            base_dir=folder,
        )
        report = run(config, RunOptions(database_url=database_url, reporter=memory))
        assert report.records_inserted == rows
        assert memory.batches >= rows // 1000
        peaks.append(memory.peak)
    # Four times the rows and batches, about the same memory: nothing accumulates.
    assert peaks[1] < peaks[0] * 1.5 + (8 << 20)
    assert peaks[1] < 96 << 20


def test_never_more_connections_than_configured(
    db: psycopg.Connection[Any],
    database_url: str,
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    _write(tmp_path / "data", 12, 4_000)
    db.execute(f"CREATE TABLE t {TABLE}")
    most = [0]
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(database_url, autocommit=True) as admin:
            while not done.is_set():
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'pgingest' AND datname = current_database()"
                ).fetchone()
                most[0] = max(most[0], row[0] if row else 0)
                time.sleep(0.002)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        report = load(
            {
                "settings": {"workers": 4, "connections": 2},
                "sources": [{"name": "s", "paths": ["data/*.csv"], "table": "t"}],
            }
        )
    finally:
        done.set()
        thread.join()
    assert report.records_inserted == 48_000
    assert 1 <= most[0] <= 2


def test_fewer_free_connections_than_asked_are_said_and_used(
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_module = sys.modules["pgingest.pipeline.run"]  # the package re-exports run() by name
    monkeypatch.setattr(run_module, "free_connections", lambda conn: 1)
    _write(tmp_path / "data", 2, 100)
    db.execute(f"CREATE TABLE t {TABLE}")
    with caplog.at_level(logging.WARNING, logger="pgingest"):
        report = load(
            {
                "settings": {"connections": 4},
                "sources": [{"name": "s", "paths": ["data/*.csv"], "table": "t"}],
            }
        )
    assert report.records_inserted == 200
    assert "asked for 4 connections but the server has 1 free" in caplog.text
