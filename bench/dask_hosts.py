"""pgingest's local executor against Dask with 2 worker hosts, on the namespaced topology.

    sudo .venv/bin/python bench/dask_hosts.py --rows 1000000 --rounds 3

Builds the multihost tests' topology (tests/multihost/topology.py: a client
host running the Dask scheduler, two worker hosts, a database host with its
own PostgreSQL, as Linux network namespaces; needs root), then loads the
benchmark's CSV files (generated when missing; every host sees them) into a
fresh ``public.events`` on the database host with ``pgingest run`` on the
client host, alternating:

* local: ``--workers 2 --connections 2``: the client parses and loads;
* dask: ``--executor dask --scheduler tcp://10.15.0.1:8786``: the two worker
  hosts (one thread each) parse and load over their own connections.

Each load's wall seconds are those of the whole command (start-up, connecting
to the scheduler, the run); the run report's own seconds are printed beside
them. Every load must leave the same row count and checksum. The hosts share
this machine's CPUs, so this measures what the network path and the task
shipping cost, not what more machines would gain.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.multihost.topology

from tests.multihost.topology import Topology, running_topology, why_not_possible

from database import prepare_target, read_table_state
from dataset import DataSet, DataSetSpec, default_folder
from generate import BENCH_OUT, ensure_generated


def _load(topology: Topology, config: Path, url: str, executor: str) -> tuple[float, float]:
    """One load into a fresh table: (command wall seconds, the run report's seconds)."""
    client = topology.hosts["client"]
    client.call(prepare_target, url)
    report = config.parent / f"report-{executor}.json"
    args = ["run", str(config), "--database-url", url, "--report", str(report), "--quiet"]
    if executor == "dask":
        args += ["--executor", "dask", "--scheduler", topology.scheduler_address]
    else:
        args += ["--workers", "2"]
    started = time.perf_counter()
    done = topology.pgingest(args, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{executor} load failed:\n{done.stdout}{done.stderr}")
    figures = json.loads(report.read_text())
    seconds = (
        datetime.fromisoformat(figures["finished_at"])
        - datetime.fromisoformat(figures["started_at"])
    ).total_seconds()
    return wall, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reason = why_not_possible()
    if reason:
        raise SystemExit(f"cannot build the topology: {reason}")
    data = DataSet(default_folder(BENCH_OUT, args.rows), DataSetSpec(rows=args.rows))
    ensure_generated(data)
    folder = Path(tempfile.mkdtemp(prefix="pgingest-dask-hosts-"))
    config = folder / "data_files.json"
    source = {"name": "events", "paths": [str(p) for p in data.paths("csv")], "table": "events"}
    config.write_text(json.dumps({"settings": {"connections": 2}, "sources": [source]}))
    walls: dict[str, list[float]] = {"local": [], "dask": []}
    states = set()
    with running_topology(folder) as topology:
        url = topology.database_url
        for round_number in range(1, args.rounds + 1):
            for executor in ("local", "dask") if round_number % 2 else ("dask", "local"):
                wall, seconds = _load(topology, config, url, executor)
                state = topology.hosts["client"].call(read_table_state, url)
                if state.rows != args.rows:
                    raise SystemExit(f"{executor} loaded {state.rows} rows, not {args.rows}")
                states.add(state)
                walls[executor].append(wall)
                print(f"round {round_number} {executor:5} {wall:6.2f} s (run {seconds:6.2f} s)")
    if len(states) != 1:
        raise SystemExit(f"the loads left different tables: {states}")
    local, dask = statistics.median(walls["local"]), statistics.median(walls["dask"])
    print(f"median wall: local {local:.2f} s, dask {dask:.2f} s; dask/local {dask / local:.2f}")


if __name__ == "__main__":
    main()
