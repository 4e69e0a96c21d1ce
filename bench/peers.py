"""The peers: every way of loading the data set that the benchmark times.

A peer is a name, the files it reads, and the command line of one load. Each
load runs as its own process so its wall time and peak RSS are measured the
same way for all (see measure.py); commands that need a config or a load file
write it into the load's own folder first.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataset import DataSet
from events import COLUMN_NAMES, QUALIFIED_TABLE

BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
# The real CLI, as a user runs it: the console script beside this venv's python.
PGINGEST = str(Path(sys.executable).with_name("pgingest"))
# pgloader settings chosen by a sweep on this machine (bench/README.md): more
# workers than cores keeps its Lisp parser busy while a batch is in COPY;
# batch rows, batch size and prefetch rows stay at their defaults, which did
# as well as anything larger or smaller.
PGLOADER_WORKERS = 8
PGLOADER_CONCURRENCY = 4


@dataclass(frozen=True, kw_only=True)
class LoadContext:
    """Everything a peer needs to build the command of one load."""

    data_set: DataSet
    database_url: str
    workers: int
    load_dir: Path  # empty folder of this load: configs, reports, logs


@dataclass(frozen=True, kw_only=True)
class Peer:
    """One way of loading the data set."""

    key: str
    label: str  # may name {workers} and {files} (the layout's file count)
    build_command: Callable[[LoadContext], list[str]]
    requires: str | None = None  # an executable that must be on PATH
    layout: str = "csv"  # the files it reads: their rows are what the table must hold


def pgingest_command(layout: str) -> Callable[[LoadContext], list[str]]:
    """pgingest run on a generated data_files.json naming the layout's files."""

    def build(context: LoadContext) -> list[str]:
        paths = [str(path) for path in context.data_set.paths(layout)]
        config = {"sources": [{"name": "events", "paths": paths, "table": QUALIFIED_TABLE}]}
        config_path = context.load_dir / "data_files.json"
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        return [
            PGINGEST,
            "run",
            str(config_path),
            "--database-url",
            context.database_url,
            "--workers",
            str(context.workers),
            "--connections",
            str(context.workers),
            "--report",
            str(context.load_dir / "report.json"),
            "--no-progress",
        ]

    return build


def psql_copy_command(context: LoadContext) -> list[str]:
    """One psql session running one `\\copy` per file, in order."""
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", context.database_url]
    for path in context.data_set.paths("csv"):
        quoted = str(path).replace("'", "''")
        command += ["-c", f"\\copy {QUALIFIED_TABLE} FROM '{quoted}' (FORMAT csv, HEADER)"]
    return command


def raw_copy_command(layout: str) -> Callable[[LoadContext], list[str]]:
    """load_raw_copy.py: the CSV bytes over N persistent COPY FROM STDIN connections."""

    def build(context: LoadContext) -> list[str]:
        return _python_peer(
            context, "load_raw_copy.py", layout, ["--workers", str(context.workers)]
        )

    return build


def adbc_command(context: LoadContext) -> list[str]:
    """load_adbc.py: typed pyarrow parse then adbc_ingest, N workers."""
    return _python_peer(context, "load_adbc.py", "csv", ["--workers", str(context.workers)])


def duckdb_command(layout: str) -> Callable[[LoadContext], list[str]]:
    """load_duckdb.py: INSERT INTO the attached table SELECT * FROM read_<format>(files)."""

    def build(context: LoadContext) -> list[str]:
        file_format = "parquet" if layout == "parquet" else "csv"
        return _python_peer(context, "load_duckdb.py", layout, ["--format", file_format])

    return build


def pgloader_command(context: LoadContext) -> list[str]:
    """pgloader on a generated load file matching the CSV part files."""
    load_file = context.load_dir / "events.load"
    load_file.write_text(pgloader_load_file(context))
    return [
        "pgloader",
        "--root-dir",
        str(context.load_dir / "pgloader"),
        str(load_file),
    ]


def pgloader_load_file(context: LoadContext) -> str:
    """The LOAD CSV command: same CSV dialect as COPY, header skipped, PK kept."""
    folder = context.data_set.part_paths("csv")[0].parent
    columns = ", ".join(COLUMN_NAMES)
    return f"""LOAD CSV
     FROM ALL FILENAMES MATCHING ~/^events-[0-9]+\\.csv$/ IN DIRECTORY '{folder}'
          ({columns})
     INTO {context.database_url}
          TARGET TABLE {QUALIFIED_TABLE}
          ({columns})
     WITH skip header = 1,
          fields optionally enclosed by '"',
          fields escaped by double-quote,
          fields terminated by ',',
          workers = {PGLOADER_WORKERS}, concurrency = {PGLOADER_CONCURRENCY}
;
"""


def _python_peer(context: LoadContext, script: str, layout: str, options: list[str]) -> list[str]:
    paths = [str(path) for path in context.data_set.paths(layout)]
    return [
        PYTHON,
        str(BENCH_DIR / script),
        "--database-url",
        context.database_url,
        *options,
        *paths,
    ]


PEERS: tuple[Peer, ...] = (
    Peer(key="pgingest-csv", label="pgingest, CSV (8 files)",
         build_command=pgingest_command("csv")),
    Peer(key="pgingest-ndjson", label="pgingest, NDJSON (8 files)",
         build_command=pgingest_command("ndjson")),
    Peer(key="pgingest-parquet", label="pgingest, Parquet (8 files)",
         build_command=pgingest_command("parquet")),
    Peer(key="pgingest-one-csv", label="pgingest, CSV (1 file)",
         build_command=pgingest_command("one")),
    Peer(key="psql-copy", label="psql \\copy, file by file",
         build_command=psql_copy_command, requires="psql"),
    Peer(key="raw-copy", label="raw CSV COPY FROM STDIN, {workers} connections",
         build_command=raw_copy_command("csv")),
    Peer(key="pgloader", label="pgloader",
         build_command=pgloader_command, requires="pgloader"),
    Peer(key="adbc", label="ADBC adbc_ingest, {workers} workers",
         build_command=adbc_command),
    Peer(key="duckdb-parquet", label="DuckDB read_parquet → postgres",
         build_command=duckdb_command("parquet")),
    Peer(key="duckdb-csv", label="DuckDB read_csv → postgres",
         build_command=duckdb_command("csv")),
    # Issue 12: many small files, the same rows split record-aware.
    Peer(key="pgingest-small400", label="pgingest, CSV ({files} files × 400 rows)",
         build_command=pgingest_command("small-400"), layout="small-400"),
    Peer(key="raw-copy-small400", label="raw COPY, {workers} connections, {files} × 400 rows",
         build_command=raw_copy_command("small-400"), layout="small-400"),
    Peer(key="duckdb-csv-small400", label="DuckDB read_csv(glob), {files} × 400 rows",
         build_command=duckdb_command("small-400"), layout="small-400"),
    Peer(key="pgingest-small10", label="pgingest, CSV ({files} files × 10 rows)",
         build_command=pgingest_command("small-10"), layout="small-10"),
    Peer(key="raw-copy-small10", label="raw COPY, {workers} connections, {files} × 10 rows",
         build_command=raw_copy_command("small-10"), layout="small-10"),
    Peer(key="duckdb-csv-small10", label="DuckDB read_csv(glob), {files} × 10 rows",
         build_command=duckdb_command("small-10"), layout="small-10"),
)  # fmt: skip
PEERS_BY_KEY = {peer.key: peer for peer in PEERS}
BASELINE_KEY = "pgingest-csv"  # ratios are to pgingest on the 8 CSV files


def with_baseline(peers: list[Peer], source_dir: Path) -> list[Peer]:
    """Each pgingest peer followed by its twin running another checkout's source.

    The twin runs `python -m pgingest` with PYTHONPATH=<source_dir> (that
    checkout's `src`, e.g. from `git archive`), in the same venv, so one
    interleaved run measures a change before and after on the same machine state.
    """
    twins: list[Peer] = []
    for peer in peers:
        twins.append(peer)
        if peer.key.startswith("pgingest"):
            twins.append(
                Peer(
                    key=f"{peer.key}@base",
                    label=f"{peer.label} [baseline]",
                    build_command=_on_source(peer.build_command, source_dir),
                    layout=peer.layout,
                )
            )
    return twins


def _on_source(
    build: Callable[[LoadContext], list[str]], source_dir: Path
) -> Callable[[LoadContext], list[str]]:
    def run(context: LoadContext) -> list[str]:
        command = build(context)
        assert command[0] == PGINGEST
        environment = f"PYTHONPATH={source_dir.resolve()}"
        return ["env", environment, PYTHON, "-m", "pgingest", *command[1:]]

    return run


def missing_requirement(peer: Peer) -> str | None:
    """Why the peer cannot run here, or None."""
    if peer.requires and shutil.which(peer.requires) is None:
        return f"{peer.requires} is not on PATH"
    if peer.key.startswith("pgingest") and not Path(PGINGEST).exists():
        return f"{PGINGEST} does not exist: run bench/run.py with the project's venv python"
    return None
