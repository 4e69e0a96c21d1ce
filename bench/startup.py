"""Start-up: `pgingest --version`, and `pgingest run` on the example up to its first COPY.

    python bench/startup.py --rounds 5 --database-url postgresql://postgres@127.0.0.1:5432/test
    python bench/startup.py --baseline-src /tmp/before/src   # interleaved with another src

"First COPY" is when the run logs its first `loading (` line (PGINGEST_LOG=info),
read from the process's stderr as it comes, timed from just before the process
starts; the load's COPY begins right after that line. Before each run the
example's schema `shop` and schema `pgingest` are dropped, so every run creates
the tables and loads every file. Prints medians per variant (wall seconds; CPU
seconds of the process from wait4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from database import DEFAULT_DATABASE_URL
from peers import PGINGEST, PYTHON

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data_files.json"
FIRST_COPY_MARK = ": loading ("


def reset(database_url: str) -> None:
    """Drop what the example's run created, so the next run does it all again."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS shop CASCADE")
        connection.execute("DROP SCHEMA IF EXISTS pgingest CASCADE")


def timed(command: list[str], environment: dict[str, str]) -> tuple[float, float | None, float]:
    """(wall seconds to exit, seconds to the first-COPY line or None, CPU seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    first_copy = None
    assert process.stderr is not None
    for line in process.stderr:
        if first_copy is None and FIRST_COPY_MARK in line:
            first_copy = time.perf_counter() - started
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return wall, first_copy, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Alternate the variants `--rounds` times; print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src/")
    arguments = parser.parse_args(argv)
    base = {**os.environ, "PGINGEST_LOG": "info"}
    variants = {"this": ([PGINGEST], base)}
    if arguments.baseline_src:
        other = {**base, "PYTHONPATH": str(arguments.baseline_src.resolve())}
        variants["baseline"] = ([PYTHON, "-m", "pgingest"], other)
    results: dict[str, dict[str, list[float]]] = {}
    run_options = ["--database-url", arguments.database_url, "--no-progress"]
    for _ in range(arguments.rounds):
        for name, (prefix, environment) in variants.items():
            figures = results.setdefault(name, {})
            wall, _, cpu = timed([*prefix, "--version"], environment)
            figures.setdefault("--version wall s", []).append(wall)
            figures.setdefault("--version CPU s", []).append(cpu)
            reset(arguments.database_url)
            wall, first, cpu = timed([*prefix, "run", str(EXAMPLE), *run_options], environment)
            if first is not None:
                figures.setdefault("run: first COPY s", []).append(first)
            figures.setdefault("run: wall s", []).append(wall)
            figures.setdefault("run: CPU s", []).append(cpu)
    for name, figures in results.items():
        medians = ", ".join(
            f"{what} {statistics.median(values):.2f}" for what, values in figures.items()
        )
        print(f"{name}: {medians}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
