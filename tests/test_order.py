"""Upsert applies files in a documented order — sorted paths, or order_by modified — always.

Largest-first scheduling once let a big older file overwrite a small newer
one: keys 0-99 ended with the older day's values even with one worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.config import parse_config
from pgingest.errors import ConfigError
from pgingest.executor.dask import DaskExecutor
from pgingest.pipeline import RunOptions, run
from pgingest.summary import RunReport

SMALL, LARGE = 100, 50_000


def _days(folder: Path) -> tuple[Path, Path]:
    first = folder / "2024-01-01.csv"
    second = folder / "2024-01-02.csv"
    first.write_text("id,day\n" + "".join(f"{i},1\n" for i in range(SMALL)))
    second.write_text("id,day\n" + "".join(f"{i},2\n" for i in range(LARGE)))
    return first, second


def _upsert(workers: int, **extra: Any) -> dict[str, Any]:
    return {
        "settings": {"workers": workers, "connections": workers},
        "sources": [
            {
                "name": "days",
                "paths": ["2024-*.csv"],
                "table": "days",
                "mode": "upsert",
                "key": ["id"],
                **extra,
            }
        ],
    }


def _days_of_overlap(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT day, count(*) FROM days WHERE id < %s GROUP BY day", (SMALL,)
    ).fetchall()


@pytest.mark.parametrize("workers", [1, 2])
def test_upsert_applies_files_in_path_order(
    workers: int, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE days (id int PRIMARY KEY, day int)")
    _days(tmp_path)
    report = load(_upsert(workers))
    assert report.failed_files == []
    assert _days_of_overlap(db) == [(2, SMALL)]  # the later path wins
    assert db.execute("SELECT count(*) FROM days").fetchone() == (LARGE,)


@pytest.mark.parametrize("workers", [1, 2])
def test_order_by_modified_applies_the_oldest_first(
    workers: int, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE days (id int PRIMARY KEY, day int)")
    first, second = _days(tmp_path)
    os.utime(second, ns=(1_000_000_000, 1_000_000_000))  # the large file is the older one
    os.utime(first, ns=(2_000_000_000, 2_000_000_000))
    report = load(_upsert(workers, order_by="modified"))
    assert report.failed_files == []
    assert _days_of_overlap(db) == [(1, SMALL)]  # the newer (small) file wins


def test_order_by_is_checked(load: Callable[..., RunReport]) -> None:
    with pytest.raises(ConfigError, match="order_by"):
        load(_upsert(1, order_by="size"))


def test_upsert_order_holds_on_a_dask_cluster(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    db.execute("CREATE TABLE days (id int PRIMARY KEY, day int)")
    _days(tmp_path)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        report = run(
            parse_config(_upsert(2), base_dir=tmp_path),
            RunOptions(database_url=database_url, executor=DaskExecutor(client)),
        )
    assert report.failed_files == []
    assert _days_of_overlap(db) == [(2, SMALL)]
