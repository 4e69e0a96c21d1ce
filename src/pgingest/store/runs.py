"""Runs as ``pgingest.runs`` keeps them: a row per run, holding its figures and full report.

A stored run is read back as the run's one summary object, ``RunReport``, with the
status and config its row adds; a run still going (or killed) has only the row's
figures.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import replace
from typing import Any

import psycopg

from pgingest.errors import ConfigError
from pgingest.store.run_lock import mark_interrupted
from pgingest.store.schema import has_tables
from pgingest.summary import FileFigures, RecordFigures, RunReport

__all__ = ["fail_unfinished_run", "find_run", "finish_run", "insert_run", "read_runs"]

_SELECT_RUNS = """
    SELECT run_id::text, started_at, finished_at, status, config_path,
        files_attempted, files_succeeded, files_failed, files_skipped,
        records_parsed, records_inserted, records_rejected, report
    FROM pgingest.runs
"""
_OF_CONFIG = "WHERE (%(config)s::text IS NULL OR config_path = %(config)s::text) "
_RUN_ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")


def insert_run(
    conn: psycopg.Connection[Any],
    run_id: uuid.UUID,
    started_at: dt.datetime,
    config_path: str | None,
) -> None:
    """The row of a run that starts; it stays ``running`` until ``finish_run``."""
    conn.execute(
        "INSERT INTO pgingest.runs (run_id, started_at, config_path) VALUES (%s, %s, %s)",
        (run_id, started_at, config_path),
    )


def finish_run(conn: psycopg.Connection[Any], report: RunReport) -> None:
    """The run's end: its status, its figures in columns, and the whole report as JSON."""
    files, records = report.files, report.records
    conn.execute(
        """
        UPDATE pgingest.runs SET finished_at = %s, status = %s,
            files_attempted = %s, files_succeeded = %s, files_failed = %s, files_skipped = %s,
            records_parsed = %s, records_inserted = %s, records_rejected = %s,
            records_updated = %s, records_duplicates = %s, report = %s
        WHERE run_id = %s
        """,
        (
            report.finished_at,
            report.status,
            files.attempted,
            files.succeeded,
            files.failed,
            files.skipped,
            records.parsed,
            records.inserted,
            records.rejected,
            records.updated,
            records.duplicates,
            report.to_json(),
            report.run_id,
        ),
    )


def fail_unfinished_run(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> None:
    """A run stopped by a reported error ends ``failed`` (unless it recorded its end)."""
    conn.execute(
        "UPDATE pgingest.runs SET finished_at = now(), status = 'failed'"
        " WHERE run_id = %s AND finished_at IS NULL",
        (run_id,),
    )


def _stored(row: tuple[Any, ...]) -> RunReport:
    """A row of pgingest.runs as the run's report."""
    run_id, started_at, finished_at, status, config_path, *figures, report = row
    if report:
        stored = RunReport.from_dict(report)
    else:  # still running, or killed: only the row's figures (none updated before the end)
        attempted, succeeded, failed, skipped, parsed, inserted, rejected = figures
        stored = RunReport(
            run_id=run_id,
            started_at=started_at,
            finished_at=finished_at or started_at,
            files=FileFigures(attempted, succeeded, failed, skipped),
            records=RecordFigures(parsed=parsed, inserted=inserted, rejected=rejected),
        )
    return replace(stored, run_id=run_id, stored_status=status, config_path=config_path)


def read_runs(
    conn: psycopg.Connection[Any], *, limit: int = 20, config_path: str | None = None
) -> list[RunReport]:
    """The latest runs (of the config at ``config_path``; None: of every config), newest first."""
    if not has_tables(conn, "runs"):
        return []
    mark_interrupted(conn)
    rows = conn.execute(
        _SELECT_RUNS + _OF_CONFIG + "ORDER BY started_at DESC LIMIT %(limit)s",
        {"config": config_path, "limit": limit},
    ).fetchall()
    return [_stored(row) for row in rows]


def find_run(
    conn: psycopg.Connection[Any], run_id: str | None, *, config_path: str | None = None
) -> RunReport:
    """The run whose id is or starts with ``run_id`` (the latest run for None).

    With ``config_path``, only that config's runs count.
    """
    if not has_tables(conn, "runs"):
        raise ConfigError(
            "this database has no pgingest runs yet", hint="load something with `pgingest run`"
        )
    mark_interrupted(conn)
    prefix = (run_id or "").strip().lower()
    if run_id is not None and not _RUN_ID_PREFIX.fullmatch(prefix):
        raise ConfigError(
            f"{run_id!r} is not a run id",
            hint="run ids look like 3f2a9c1e-...; `pgingest runs` lists them",
        )
    # The prefix holds only hex digits and hyphens, so it needs no LIKE escaping.
    rows = conn.execute(
        _SELECT_RUNS
        + _OF_CONFIG
        + "AND run_id::text LIKE %(prefix)s ORDER BY started_at DESC LIMIT 2",
        {"config": config_path, "prefix": prefix + "%"},
    ).fetchall()
    if not rows:
        whose = f" of {config_path}" if config_path else ""
        raise ConfigError(
            f"no run {run_id!r} in pgingest.runs" if run_id else "no runs in pgingest.runs yet",
            hint=f"`pgingest runs` lists the runs{whose} and their ids; --all: of every config",
        )
    if run_id and len(rows) > 1 and rows[0][0] != prefix:
        raise ConfigError(
            f"run id {run_id!r} is the start of more than one run",
            hint="give more of the id (`pgingest runs` lists them)",
        )
    return _stored(rows[0])
