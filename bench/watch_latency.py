"""How soon ``pgingest watch`` makes landed files visible (issue #14). Run by hand.

    .venv/bin/python bench/watch_latency.py --rounds 3
    .venv/bin/python bench/watch_latency.py --rounds 1 --trickle 10 --stream 1000  # quicker

One watch (``python -m pgingest watch``, default --interval 1 and --settle 1)
runs for the whole benchmark, into a scratch database made for it and dropped
after. Each round measures, in this order:

* trickle: files renamed into place one at a time, each once the previous is
  visible; the latency is rename → its rows visible (polled every 5 ms);
* burst: 200 small files renamed into place at once; the time from the last
  rename until every row is visible;
* stream: files renamed into place at ``--rate`` per second for
  ``--stream`` files; the files/s from the first rename until all are visible,
  and the lag after the last.

Every file has 10 rows with ids of its own, so each count is exact. Prints one
JSON object per measurement and the medians over the rounds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROWS_PER_FILE = 10
POLL_SECONDS = 0.005
BURST_FILES = 200  # the burst
TIMEOUT_SECONDS = 120.0


class Landing:
    """A folder the watch follows, and a staging folder beside it to rename files from."""

    def __init__(self, root: Path) -> None:
        self.incoming = root / "incoming"
        self.staging = root / "staging"
        self.incoming.mkdir()
        self.staging.mkdir()
        self.next_id = 0
        self.files = 0

    def stage(self) -> Path:
        """Write the next file in the staging folder; returns it."""
        first = self.next_id
        self.next_id += ROWS_PER_FILE
        self.files += 1
        path = self.staging / f"f-{self.files:07}.csv"
        lines = "".join(f"{i},n{i}\n" for i in range(first, first + ROWS_PER_FILE))
        path.write_text("id,name\n" + lines, encoding="utf-8")
        return path

    def publish(self, staged: Path) -> None:
        """Rename a staged file into the watched folder."""
        os.replace(staged, self.incoming / staged.name)


def visible(conn: psycopg.Connection[tuple[int]]) -> int:
    row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def wait_rows(conn: psycopg.Connection[tuple[int]], rows: int) -> float:
    """Poll until ``rows`` rows are visible; returns the time.perf_counter() then."""
    deadline = time.perf_counter() + TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        if visible(conn) >= rows:
            return time.perf_counter()
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"timed out waiting for {rows} rows")


def trickle(landing: Landing, conn: psycopg.Connection[tuple[int]], files: int) -> list[float]:
    latencies = []
    for _ in range(files):
        time.sleep(0.2)  # apart from the previous file's batch
        staged = landing.stage()  # written just before its rename, as producers do
        renamed = time.perf_counter()
        landing.publish(staged)
        latencies.append(wait_rows(conn, landing.next_id) - renamed)
    return latencies


def burst(landing: Landing, conn: psycopg.Connection[tuple[int]]) -> float:
    staged = [landing.stage() for _ in range(BURST_FILES)]
    for path in staged:
        landing.publish(path)
    last = time.perf_counter()
    return wait_rows(conn, landing.next_id) - last


def stream(
    landing: Landing, conn: psycopg.Connection[tuple[int]], files: int, rate: float
) -> tuple[float, float]:
    staged = [landing.stage() for _ in range(files)]
    started = time.perf_counter()
    for index, path in enumerate(staged):
        due = started + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        landing.publish(path)
    last = time.perf_counter()
    done = wait_rows(conn, landing.next_id)
    return files / (done - started), done - last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trickle", type=int, default=20, help="files per round, one by one")
    parser.add_argument("--stream", type=int, default=2000, help="files per round in a stream")
    parser.add_argument("--rate", type=float, default=400.0, help="stream files per second")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    scratch = f"pgingest_bench_watch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = make_conninfo(args.database_url, dbname=scratch)
    figures: dict[str, list[float]] = {
        "trickle": [],
        "trickle_run": [],
        "burst": [],
        "stream": [],
        "lag": [],
    }
    try:
        with tempfile.TemporaryDirectory(prefix="pgingest-watch-bench-") as folder:
            root = Path(folder)
            landing = Landing(root)
            (root / "data_files.json").write_text(
                json.dumps(
                    {"sources": [{"name": "e", "paths": ["incoming/*.csv"], "table": "events"}]}
                ),
                encoding="utf-8",
            )
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE events (id integer, name text)")
                log = (root / "watch.log").open("wb")
                command = [sys.executable, "-m", "pgingest", "watch", str(root / "data_files.json")]
                command += ["--database-url", url, "--workers", str(args.workers)]
                command += ["--connections", str(args.workers), "--quiet"]
                watch = subprocess.Popen(command, stderr=log)
                try:
                    # Warm up: the first batch pays for imports and the pgingest schema.
                    landing.publish(landing.stage())
                    wait_rows(conn, landing.next_id)
                    for round_index in range(args.rounds):
                        latencies = trickle(landing, conn, args.trickle)
                        figures["trickle"] += latencies
                        burst_seconds = burst(landing, conn)
                        figures["burst"].append(burst_seconds)
                        rate, lag = stream(landing, conn, args.stream, args.rate)
                        figures["stream"].append(rate)
                        figures["lag"].append(lag)
                        print(
                            json.dumps(
                                {
                                    "round": round_index + 1,
                                    "trickle_p50_s": round(statistics.median(latencies), 3),
                                    "trickle_max_s": round(max(latencies), 3),
                                    "burst_200_after_last_s": round(burst_seconds, 3),
                                    "stream_files_per_s": round(rate, 1),
                                    "stream_lag_after_last_s": round(lag, 3),
                                }
                            ),
                            flush=True,
                        )
                    # The part of a trickle file's latency spent in its run (pipeline, commit).
                    single = conn.execute(
                        "SELECT extract(epoch FROM finished_at - started_at)::float8"
                        " FROM pgingest.runs WHERE files_succeeded = 1"
                    ).fetchall()
                    figures["trickle_run"] = [float(row[0]) for row in single]
                finally:
                    watch.terminate()
                    watch.wait(15)
                    log.close()
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
    trickle_sorted = sorted(figures["trickle"])
    summary = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": os.getloadavg()[0],
        "rounds": args.rounds,
        "trickle_files": len(trickle_sorted),
        "trickle_p50_s": round(statistics.median(trickle_sorted), 3),
        "trickle_p90_s": round(trickle_sorted[int(0.9 * (len(trickle_sorted) - 1))], 3),
        "trickle_run_median_s": round(statistics.median(figures["trickle_run"] or [0.0]), 3),
        "burst_200_median_s": round(statistics.median(figures["burst"]), 3),
        "stream_files_per_s_median": round(statistics.median(figures["stream"]), 1),
        "stream_rate_offered": args.rate,
        "stream_lag_median_s": round(statistics.median(figures["lag"]), 3),
    }
    print(json.dumps({"summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
