"""Earlier runs as ``pgingest.runs`` keeps them: their figures, and each run's full report."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import psycopg

from pgingest.errors import ConfigError
from pgingest.report.metrics import STAGES
from pgingest.report.run_report import FailedFile, RunReport, TableFigures
from pgingest.run_lock import mark_interrupted

__all__ = ["StoredRun", "find_run", "read_runs", "run_report_from_dict"]

_SELECT_RUNS = """
    SELECT run_id::text, started_at, finished_at, status, config_path,
        files_attempted, files_succeeded, files_failed, files_skipped,
        records_parsed, records_inserted, records_rejected, report
    FROM pgingest.runs
"""
_OF_CONFIG = "WHERE (%(config)s::text IS NULL OR config_path = %(config)s::text) "
_RUN_ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")


@dataclass(frozen=True)
class StoredRun:
    """A row of pgingest.runs."""

    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str  # running, interrupted (killed), succeeded, failed
    config_path: str | None
    files_attempted: int
    files_succeeded: int
    files_failed: int
    files_skipped: int
    records_parsed: int
    records_inserted: int
    records_rejected: int
    report: dict[str, Any] | None

    @property
    def seconds(self) -> float | None:
        """How long it ran; None while it runs (or if it was killed)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def records_updated(self) -> int:
        """Rows updated by upserts (kept in the report only)."""
        return int(((self.report or {}).get("records") or {}).get("updated", 0))

    @property
    def records_duplicates(self) -> int:
        """Rows merged away by upserts (kept in the report only)."""
        return int(((self.report or {}).get("records") or {}).get("duplicates", 0))

    @property
    def records_warned(self) -> int:
        """Rows that broke a warn rule and loaded (kept in the report only)."""
        return int(((self.report or {}).get("records") or {}).get("warned", 0))

    @property
    def rows_per_second(self) -> float:
        """Rows written (inserted or updated) per second of the run."""
        seconds = self.seconds
        return (self.records_inserted + self.records_updated) / seconds if seconds else 0.0

    def to_report(self) -> RunReport:
        """Its full report; a run still going (or killed) has only the row's figures."""
        if self.report:
            return run_report_from_dict(self.report, self)
        return run_report_from_dict(
            {
                "files": {
                    "attempted": self.files_attempted,
                    "succeeded": self.files_succeeded,
                    "failed": self.files_failed,
                    "skipped": self.files_skipped,
                },
                "records": {
                    "parsed": self.records_parsed,
                    "inserted": self.records_inserted,
                    "rejected": self.records_rejected,
                },
            },
            self,
        )


def _has_runs_table(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('pgingest.runs') IS NOT NULL").fetchone()
    return bool(row and row[0])


def read_runs(
    conn: psycopg.Connection[Any], *, limit: int = 20, config_path: str | None = None
) -> list[StoredRun]:
    """The latest runs (of the config at ``config_path``; None: of every config), newest first."""
    if not _has_runs_table(conn):
        return []
    mark_interrupted(conn)
    rows = conn.execute(
        _SELECT_RUNS + _OF_CONFIG + "ORDER BY started_at DESC LIMIT %(limit)s",
        {"config": config_path, "limit": limit},
    ).fetchall()
    return [StoredRun(*row) for row in rows]


def find_run(
    conn: psycopg.Connection[Any], run_id: str | None, *, config_path: str | None = None
) -> StoredRun:
    """The run whose id is or starts with ``run_id`` (the latest run for None).

    With ``config_path``, only that config's runs count.
    """
    if not _has_runs_table(conn):
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
    return StoredRun(*rows[0])


def _time(text: str | None, default: dt.datetime) -> dt.datetime:
    return dt.datetime.fromisoformat(text) if text else default


def _in_flow_order(stages: dict[str, Any]) -> dict[str, float]:
    """Stages in the order they run (jsonb keeps keys in an order of its own)."""
    ordered = [name for name in STAGES if name in stages]
    ordered += sorted(name for name in stages if name not in STAGES)
    return {name: float(stages[name]) for name in ordered}


def _retries_in_order(retries: dict[str, Any]) -> dict[str, int]:
    kinds: list[str] = [k for k in ("file", "db", "careful") if k in retries]
    kinds += sorted(k for k in retries if k not in kinds)
    return {kind: int(retries[kind]) for kind in kinds}


def run_report_from_dict(data: dict[str, Any], run: StoredRun | None = None) -> RunReport:
    """A RunReport again from its JSON (reports of older versions lack some keys: zeros)."""
    files = data.get("files") or {}
    records = data.get("records") or {}
    started = _time(data.get("started_at"), run.started_at if run else dt.datetime.now(dt.UTC))
    finished = _time(data.get("finished_at"), (run.finished_at if run else None) or started)
    table_seconds = data.get("table_seconds") or {}
    return RunReport(
        run_id=str(data.get("run_id") or (run.run_id if run else "")),
        started_at=started,
        finished_at=finished,
        files_attempted=int(files.get("attempted", 0)),
        files_succeeded=int(files.get("succeeded", 0)),
        files_failed=int(files.get("failed", 0)),
        files_skipped=int(files.get("skipped", 0)),
        records_parsed=int(records.get("parsed", 0)),
        records_inserted=int(records.get("inserted", 0)),
        records_rejected=int(records.get("rejected", 0)),
        records_updated=int(records.get("updated", 0)),
        records_duplicates=int(records.get("duplicates", 0)),
        records_warned=int(records.get("warned", 0)),
        records_skipped_by_trigger=int(records.get("skipped_by_trigger", 0)),
        stages=_in_flow_order(data.get("stages") or {}),
        stages_wall=_in_flow_order(data.get("stages_wall") or {}),
        failed_files=[
            FailedFile(
                str(f.get("path", "")),
                str(f.get("stage", "")),
                str(f.get("error", "")),
                f.get("source"),
                f.get("table"),
            )
            for f in data.get("failed_files") or []
        ],
        tables={
            name: TableFigures(int(rows), float(table_seconds.get(name, 0.0)))
            for name, rows in sorted((data.get("tables") or {}).items())
        },
        warnings=[str(w) for w in data.get("warnings") or []],
        bytes_read=int(data.get("bytes_read", 0)),
        database=data.get("database"),
        retries=_retries_in_order(data.get("retries") or {}),
        reconciliation=dict(data.get("reconciliation") or {}),
        batches=int(data.get("batches", 0)),
        peak_memory_bytes=int(data.get("peak_memory_bytes", 0)),
        timeline=list(data.get("timeline") or []),
        encodings={str(k): str(v) for k, v in (data.get("encodings") or {}).items()},
    )
