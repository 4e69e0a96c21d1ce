"""Small files against the same rows in a few files, source trees interleaved in one run.

    python bench/generate.py --rows 400000 --files 8 --formats csv --small small-400 \\
        --out /tmp/events-400k
    python bench/small_vs_few.py --data /tmp/events-400k --tree before=/tmp/base/src \\
        --tree after=src --rounds 3

Each load is the real CLI (`python -m pgingest run CONFIG --database-url URL
--report FILE --quiet`, pgingest's defaults) into a fresh database holding
only the `events` table, its source tree chosen with PYTHONPATH; the order of
(tree, layout) rotates every round so that a busy spell on the machine falls
on each in turn. Every load's rows are checked against its report and its
manifest rows against the file count. Printed: wall seconds of the whole
process (start-up included) and its CPU seconds (user + system, from wait4),
then medians and each tree's small ÷ few ratio of rows/s.
"""

from __future__ import annotations

import argparse
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

from events import CREATE_TABLE_SQL

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def load_once(
    *, server: str, tree: str, files: list[Path], folder: Path
) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and rows of one load of ``files`` with the tree's pgingest."""
    name = f"bench_small_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(sql.SQL(CREATE_TABLE_SQL))
        config = folder / f"{name}.json"
        paths = [str(path) for path in files]
        config.write_text(
            json.dumps({"sources": [{"name": "events", "paths": paths, "table": "public.events"}]})
        )
        report = folder / f"{name}-report.json"
        command = [sys.executable, "-m", "pgingest", "run", str(config)]
        command += ["--database-url", url, "--report", str(report), "--quiet"]
        environment = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
        start = time.perf_counter()
        process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        assert process.stderr is not None
        errors = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"load failed ({tree}): {errors[-2000:]}")
        figures = json.loads(report.read_text())
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT count(*) FROM public.events").fetchone()
            manifest = connection.execute(
                "SELECT count(*) FROM pgingest.files WHERE status = 'loaded'"
            ).fetchone()
        assert rows is not None
        assert manifest is not None
        if rows[0] != figures["records"]["inserted"] or manifest[0] != len(files):
            raise SystemExit(f"wrong load: {rows[0]} rows, {manifest[0]} manifest rows")
        return wall, usage.ru_utime + usage.ru_stime, int(rows[0])
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> int:
    """Load both layouts with every tree, rounds interleaved, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="generate.py's --out folder")
    parser.add_argument("--small", default="small-400/events-*.csv", help="glob in --data")
    parser.add_argument("--few", default="csv/*.csv", help="glob in --data: the same rows")
    parser.add_argument("--tree", action="append", required=True, help="NAME=SRC_FOLDER")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    arguments = parser.parse_args()
    trees = dict(item.split("=", 1) for item in arguments.tree)
    layouts = {
        "small": sorted(arguments.data.glob(arguments.small)),
        "few": sorted(arguments.data.glob(arguments.few)),
    }
    order = [(tree, layout) for layout in layouts for tree in trees]
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    rows_of: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-small-") as folder:
        for round_number in range(arguments.rounds):
            shift = round_number % len(order)
            for tree, layout in order[shift:] + order[:shift]:
                wall, cpu, rows = load_once(
                    server=arguments.server,
                    tree=trees[tree],
                    files=layouts[layout],
                    folder=Path(folder),
                )
                walls.setdefault((tree, layout), []).append(wall)
                cpus.setdefault((tree, layout), []).append(cpu)
                rows_of[layout] = rows
                print(
                    f"round {round_number + 1} {tree:8} {layout:5} "
                    f"{len(layouts[layout]):5} files {wall:7.2f} s wall {cpu:6.2f} s CPU",
                    flush=True,
                )
    print("medians (wall s, CPU s, rows/s):")
    for (tree, layout), values in walls.items():
        wall, cpu = statistics.median(values), statistics.median(cpus[tree, layout])
        print(f"  {tree:8} {layout:5} {wall:7.2f} {cpu:6.2f} {rows_of[layout] / wall:12,.0f}")
    for tree in trees:
        small = statistics.median(walls[tree, "small"]) / rows_of["small"]
        few = statistics.median(walls[tree, "few"]) / rows_of["few"]
        print(f"  {tree:8} small ÷ few, rows/s: {few / small:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
