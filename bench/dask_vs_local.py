"""pgingest's local executor against its Dask executor on the same data, interleaved.

    .venv/bin/python bench/dask_vs_local.py --rows 2000000 --rounds 3

Loads the benchmark's CSV files (generated when missing) into a fresh
``public.events`` with each executor in turn; the Dask cluster is a
LocalCluster on 127.0.0.1 with one single-threaded worker process per CPU.
Prints each load's wall seconds, the medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import distributed

from database import DEFAULT_DATABASE_URL, prepare_target
from dataset import DataSet, DataSetSpec, default_folder
from generate import BENCH_OUT, ensure_generated
from pgingest.config import parse_config
from pgingest.executor.dask import DaskExecutor
from pgingest.pipeline import RunOptions, run


def _load(data: DataSet, url: str, executor: DaskExecutor | None) -> float:
    prepare_target(url)
    paths = [str(p) for p in data.paths("csv")]
    config = parse_config({"sources": [{"name": "events", "paths": paths, "table": "events"}]})
    started = time.perf_counter()
    report = run(config, RunOptions(database_url=url, executor=executor))
    seconds = time.perf_counter() - started
    if report.failed_files or report.records_inserted != data.spec.rows:
        raise SystemExit(f"load failed: {report.failed_files}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    data = DataSet(default_folder(BENCH_OUT, args.rows), DataSetSpec(rows=args.rows))
    ensure_generated(data)
    workers = os.cpu_count() or 2
    times: dict[str, list[float]] = {"local": [], "dask": []}
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        executor = DaskExecutor(client)
        for round_number in range(1, args.rounds + 1):
            for name in ("local", "dask") if round_number % 2 else ("dask", "local"):
                seconds = _load(data, args.database_url, executor if name == "dask" else None)
                times[name].append(seconds)
                print(f"round {round_number} {name:5} {seconds:6.2f} s")
    local, dask = statistics.median(times["local"]), statistics.median(times["dask"])
    print(f"median wall: local {local:.2f} s, dask {dask:.2f} s; dask/local {dask / local:.2f}")


if __name__ == "__main__":
    main()
