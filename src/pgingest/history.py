"""What earlier runs left in the database: rejects, runs and their reports, each source's state.

The read models behind ``pgingest runs``, ``report``, ``rejects`` and ``status``:
each opens the database the config (or URL) names and asks the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from pgingest.config import Config
from pgingest.discover import discover_files, source_file_at
from pgingest.load.connect import connect, translate_db_error
from pgingest.parse.stream import open_binary
from pgingest.query import database_for
from pgingest.remote import local_copy
from pgingest.store.rejects import StoredReject, read_rejects
from pgingest.store.run_lock import mark_interrupted
from pgingest.store.runs import find_run, read_runs
from pgingest.store.schema import has_tables
from pgingest.store.status import SourceStatus, read_source_status
from pgingest.summary import RunReport

__all__ = [
    "RunRecord",
    "export_rejects",
    "header_line",
    "list_rejects",
    "list_runs",
    "read_run",
    "source_status",
]

T = TypeVar("T")

# The rejects a run's page shows; the rest are a `pgingest rejects --run` away.
PAGE_REJECTS = 200


@dataclass(frozen=True)
class RunRecord:
    """A stored run with the first of its rejected records."""

    run: RunReport
    rejects: list[StoredReject]
    database: str


def _query(
    config: Config | None, database_url: str | None, work: Callable[[Any], T]
) -> tuple[T, str]:
    target = database_for(config, database_url)
    with connect(target.url) as conn:
        try:
            return work(conn), str(target)
        except psycopg.Error as exc:
            raise translate_db_error(exc, url=target.url) from exc


def _config_path(config: Config | None, show_all: bool) -> str | None:
    """The config whose runs to show (as pgingest.runs keeps it); None: every run."""
    if show_all or config is None or config.file is None:
        return None
    return str(config.file.resolve())


def list_rejects(
    config: Config | None,
    *,
    database_url: str | None = None,
    run_id: str | None = None,
    source: str | None = None,
    limit: int | None = None,
    show_all: bool = False,
) -> list[StoredReject]:
    """Rejected records of the config's runs (every run: ``show_all``), newest run first."""
    of_config = _config_path(config, show_all)

    def work(conn: psycopg.Connection[Any]) -> list[StoredReject]:
        if not has_tables(conn, "rejects"):
            return []
        # A run may be named by the start of its id, as `pgingest runs` shows it.
        run = find_run(conn, run_id, config_path=of_config).run_id if run_id else None
        return read_rejects(conn, run_id=run, source=source, limit=limit, config_path=of_config)

    return _query(config, database_url, work)[0]


def list_runs(
    config: Config | None,
    *,
    database_url: str | None = None,
    limit: int = 20,
    show_all: bool = False,
) -> list[RunReport]:
    """The latest runs of the config (every run: no config, or ``show_all``), newest first."""
    of_config = _config_path(config, show_all)
    return _query(
        config, database_url, lambda conn: read_runs(conn, limit=limit, config_path=of_config)
    )[0]


def read_run(
    config: Config | None,
    run_id: str | None,
    *,
    database_url: str | None = None,
    rejects: int = PAGE_REJECTS,
    show_all: bool = False,
) -> RunRecord:
    """One run (by id or a unique start of it; the latest for None) and its first rejects."""
    of_config = _config_path(config, show_all)

    def work(conn: psycopg.Connection[Any]) -> tuple[RunReport, list[StoredReject]]:
        run = find_run(conn, run_id, config_path=of_config)
        if not has_tables(conn, "rejects"):
            return run, []
        return run, read_rejects(conn, run_id=run.run_id, limit=rejects)

    (run, found), database = _query(config, database_url, work)
    return RunRecord(run, found, database)


def source_status(
    config: Config, *, database_url: str | None = None, verify: bool = False
) -> list[SourceStatus]:
    """Each source's matched files: loaded, changed, pending, failed, missing; with rejects.

    With ``verify``, loaded files are hashed again, so content changed behind
    an unchanged size and modification time shows as changed.
    """
    discovered = discover_files(config)
    chunk_bytes = config.settings.chunk_bytes

    def work(conn: psycopg.Connection[Any]) -> list[SourceStatus]:
        mark_interrupted(conn)
        return read_source_status(conn, discovered, chunk_bytes=chunk_bytes, verify=verify)

    return _query(config, database_url, work)[0]


def header_line(path: str) -> str | None:
    """The first line of a CSV or TSV file (its header), None for other formats."""
    try:
        file = source_file_at(local_copy(path))
    except OSError:
        return None  # a remote object or zip member no longer at hand: no header line
    if file.format not in ("csv", "tsv"):
        return None
    with open_binary(file) as raw:
        first = raw.readline()
    return first.decode("utf-8", "replace").rstrip("\r\n")


def export_rejects(rejects: Sequence[StoredReject], header: str | None, path: str) -> int:
    """Write the raw records (under the file's header line, if any) for fixing; returns count."""
    records = [r.raw for r in rejects if r.raw is not None]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if header is not None:
            handle.write(header + "\n")
        for record in records:
            handle.write(record + "\n")
    return len(records)
