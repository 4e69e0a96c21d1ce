"""A whole run: discover → prepare (tables, manifest) → load units in parallel → report."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from pgingest.config import Config
from pgingest.convert import ConvertContext
from pgingest.database import DatabaseTarget, resolve_database
from pgingest.discover import DiscoveredSource, discover_files
from pgingest.errors import ConfigError, PgIngestError
from pgingest.executor import LocalExecutor
from pgingest.executor.dask import DaskExecutor
from pgingest.load.catalog import server_timezone
from pgingest.load.connect import connect, free_connections, open_pool, translate_db_error
from pgingest.load.create import drop_if_unused
from pgingest.load.schema import ensure_schema
from pgingest.manifest import record_failed
from pgingest.pipeline.execute import run_jobs
from pgingest.pipeline.jobs import Job, OrderedGroup, job_files, job_size
from pgingest.pipeline.prepare import PreparedSource, prepare_source
from pgingest.pipeline.remote import WorkerSpec
from pgingest.pipeline.unit import Unit, UnitContext, UnitResult, lacking_warning
from pgingest.remote import remove_dead_folders
from pgingest.report.logs import StageLogger
from pgingest.report.metrics import Metrics, peak_memory_bytes
from pgingest.report.position import bytes_to_read
from pgingest.report.progress import ProgressState
from pgingest.report.rejects import write_rejects
from pgingest.report.reporter import CompositeReporter, Reporter
from pgingest.report.run_report import FailedFile, RunReport, TableFigures
from pgingest.report.timeline import Timeline
from pgingest.retry import Retrier
from pgingest.run_lock import mark_interrupted, run_lock_taker

__all__ = ["RunOptions", "run"]

logger = logging.getLogger(__name__)

# How long ending a stopped run's row may wait for a connection: the run is failing
# already, and a database that is itself the problem should not hold the exit up.
STOPPED_RUN_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RunOptions:
    """How to run, beyond the config: the database, what to load, and the observers."""

    database_url: str | None = field(default=None, repr=False)  # may hold a password
    reporter: Reporter | None = None
    metrics: Metrics | None = None
    retry_failed: bool = False  # load only the files whose last attempt failed
    sleep: Callable[[float], None] | None = None  # how retries wait (tests pass a fake)
    executor: LocalExecutor | DaskExecutor | None = None  # default: as the config says


def _cpu_count() -> int:
    return max(os.cpu_count() or 1, 1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(config: Config, options: RunOptions | None = None) -> RunReport:
    """Load every file the config matches; returns the run report.

    Problems with single files are reported, not raised. Raises ConfigError for
    a bad config and ConnectError when the database cannot be reached.
    """
    options = options or RunOptions()
    metrics = options.metrics or Metrics()
    # The run keeps its own tally for the report's batches and timeline, and
    # logs its stages; the caller's reporter hears every event after them.
    progress = ProgressState(clock=metrics.now)
    timeline = Timeline(progress, clock=metrics.now)
    reporter = CompositeReporter(
        progress, timeline, StageLogger(clock=metrics.now), options.reporter
    )
    started_at = _now()
    run_id = uuid.uuid4()
    settings = config.settings
    connections = settings.connections or _cpu_count()

    retrier = Retrier(
        settings.retry,
        sleep=options.sleep or time.sleep,
        on_retry=lambda kind, _exc: metrics.add(f"retries.{kind}"),
    )

    remove_dead_folders()  # temporary files of runs that were killed
    discovered = _discover(config, reporter, metrics)
    target = resolve_database(config, options.database_url)
    logger.info("run %s: loading into %s", run_id, target)
    connections = retrier.call(
        lambda: _usable_connections(target.url, connections), what="connecting"
    )
    # Every connection of the pool holds the run's lock while it lasts (see run_lock.py).
    pool = open_pool(target.url, connections, configure=run_lock_taker(run_id))
    try:
        with pool.connection() as conn:
            ensure_schema(conn)
            mark_interrupted(conn)
            timezone = server_timezone(conn)
            _insert_run(conn, run_id, started_at, config)
            prepared = _prepare(
                conn, discovered, config, options=options, reporter=reporter, metrics=metrics
            )
        jobs = _jobs(prepared, reporter)
        context = UnitContext(
            pool=pool,
            run_id=run_id,
            batch_rows=settings.batch_size,
            convert=ConvertContext(timezone=timezone),
            metrics=metrics,
            retrier=retrier,
            max_rejects=settings.max_rejects,
            reporter=reporter,
            max_reject_ratio=settings.max_reject_ratio,
        )
        results = _run_units(
            jobs, context, config=config, options=options, target=target, timezone=timezone
        )
        with pool.connection() as conn:
            _drop_unused_tables(conn, prepared, results)
        outcome = _Outcome(run_id, started_at, target, discovered, prepared, results)
        report = replace(
            _report(outcome, metrics),
            batches=progress.snapshot().batches,
            peak_memory_bytes=peak_memory_bytes(),
            timeline=timeline.points(),
        )
        retrier.call(
            lambda: _bookkeep(pool, run_id, prepared, results, report), what="recording the run"
        )
        reporter.run_finished(report)
    except psycopg.Error as exc:
        _end_stopped_run(pool, run_id)
        raise translate_db_error(exc, url=target.url) from exc
    except PgIngestError:
        _end_stopped_run(pool, run_id)
        raise
    finally:
        pool.close()
    return report


def _run_units(
    jobs: list[Job],
    context: UnitContext,
    *,
    config: Config,
    options: RunOptions,
    target: DatabaseTarget,
    timezone: str,
) -> list[UnitResult]:
    """Every job on the run's executor (the caller's, else one made for this run)."""
    executor = options.executor or _executor_for(config, config.settings.workers or _cpu_count())
    try:
        spec = _worker_spec(target, context.run_id, timezone, config, executor)
        return run_jobs(jobs, context, executor=executor, spec=spec)
    finally:
        if options.executor is None and isinstance(executor, DaskExecutor):
            executor.close()


def _end_stopped_run(pool: ConnectionPool, run_id: uuid.UUID) -> None:
    """A run stopped by a reported error (a config error found while preparing) ends ``failed``.

    Best effort: when the database itself is what failed, the row stays ``running``
    until the next run marks it ``interrupted``, as after a kill or an internal error.
    """
    try:
        with pool.connection(timeout=STOPPED_RUN_TIMEOUT_SECONDS) as conn:
            conn.execute(
                "UPDATE pgingest.runs SET finished_at = now(), status = 'failed'"
                " WHERE run_id = %s AND finished_at IS NULL",
                (run_id,),
            )
    except (psycopg.Error, PoolTimeout) as exc:
        logger.debug("could not mark run %s failed: %s", run_id, exc)


def _discover(config: Config, reporter: Reporter, metrics: Metrics) -> list[DiscoveredSource]:
    reporter.stage_started("discover")
    stage_start = metrics.now()
    with metrics.stage("discover"):
        discovered = discover_files(config)
    reporter.stage_finished(
        "discover",
        seconds=metrics.now() - stage_start,
        figures={
            "sources": len(discovered),
            "files": sum(len(d.files) for d in discovered),
            "bytes": sum(f.size for d in discovered for f in d.files),
        },
    )
    return discovered


def _prepare(
    conn: psycopg.Connection[Any],
    discovered: list[DiscoveredSource],
    config: Config,
    *,
    options: RunOptions,
    reporter: Reporter,
    metrics: Metrics,
) -> list[PreparedSource]:
    reporter.stage_started("fingerprint")
    stage_start = metrics.now()
    with metrics.stage("fingerprint"):
        prepared = [
            prepare_source(
                conn,
                found,
                index,
                retry_failed=options.retry_failed,
                chunk_bytes=config.settings.chunk_bytes,
                max_rejects=config.settings.max_rejects,
            )
            for index, found in enumerate(discovered)
        ]
    reporter.stage_finished(
        "fingerprint",
        seconds=metrics.now() - stage_start,
        figures={
            "to_load": sum(len(p.units) for p in prepared)
            + sum(len(p.group.units) for p in prepared if p.group is not None),
            "already_loaded": sum(len(p.skipped) for p in prepared),
            "failed": sum(len(p.failed) for p in prepared),
            "tables_created": sum(1 for p in prepared if p.created),
        },
    )
    return prepared


def _jobs(prepared: list[PreparedSource], reporter: Reporter) -> list[Job]:
    """The run's jobs, largest first (so the tail stays short); tells the reporter the totals.

    Upsert units of one table form one job that applies them in order (config
    order of the sources, then each source's ``order_by``), so scheduling never
    changes which file's values win.
    """
    jobs: list[Job] = []
    ordered: dict[str, list[Unit]] = {}
    for p in prepared:
        for unit in p.units:
            if unit.source.mode == "upsert":
                ordered.setdefault(str(unit.table.name), []).append(unit)
            else:
                jobs.append(unit)
    jobs += [OrderedGroup(tuple(units)) for units in ordered.values()]
    jobs += [p.group for p in prepared if p.group is not None]
    jobs.sort(key=lambda job: -job_size(job))
    files = [unit for job in jobs for unit in job_files(job)]
    reporter.run_started(files=len(files), total_bytes=sum(bytes_to_read(u.file) for u in files))
    for p in prepared:
        for decision in p.skipped:
            reporter.file_skipped(decision.file, "already loaded")
        for file, _stage, error in p.failed:
            reporter.unit_failed(file, error)
    return jobs


def _reconciliation(results: list[UnitResult]) -> dict[str, dict[str, int]]:
    """Per table: parsed = inserted + updated + duplicates + rejected (each file checked too)."""
    tables: dict[str, dict[str, int]] = {}
    for result in results:
        figures = tables.setdefault(
            str(result.unit.table.name),
            dict.fromkeys(
                ("parsed", "inserted", "updated", "duplicates", "skipped_by_trigger", "rejected"),
                0,
            ),
        )
        figures["parsed"] += result.parsed
        figures["inserted"] += result.inserted
        figures["updated"] += result.updated
        figures["duplicates"] += result.duplicates
        figures["skipped_by_trigger"] += result.skipped_by_trigger
        figures["rejected"] += result.rejected
    return tables


def _executor_for(config: Config, workers: int) -> LocalExecutor | DaskExecutor:
    settings = config.settings
    if settings.executor == "dask":
        assert settings.scheduler is not None
        return DaskExecutor.connect(settings.scheduler)
    return LocalExecutor(workers)


def _worker_spec(
    target: DatabaseTarget,
    run_id: uuid.UUID,
    timezone: str,
    config: Config,
    executor: LocalExecutor | DaskExecutor,
) -> WorkerSpec | None:
    """What Dask workers need; None for the local executor."""
    if isinstance(executor, LocalExecutor):
        return None
    if target.is_embedded:
        raise ConfigError(
            "Dask workers cannot reach the embedded PostgreSQL (it listens on a Unix socket "
            "on this machine only)",
            hint="set DATABASE_URL (or --database-url) to a PostgreSQL server the workers can "
            "reach over TCP",
        )
    settings = config.settings
    return WorkerSpec(
        database_url=target.url,
        run_id=run_id,
        batch_rows=settings.batch_size,
        timezone=timezone,
        retry=settings.retry,
        max_rejects=settings.max_rejects,
        connections=settings.connections or 2,
        max_reject_ratio=settings.max_reject_ratio,
    )


def _usable_connections(url: str, wanted: int) -> int:
    """How many connections to open: as many as asked, or what the server has free."""
    with connect(url) as conn:
        free = free_connections(conn)
    if free is not None and free < wanted:
        usable = max(free, 1)
        logger.warning(
            "asked for %d connections but the server has %d free (max_connections); using %d",
            wanted,
            free,
            usable,
        )
        return usable
    return wanted


def _drop_unused_tables(
    conn: psycopg.Connection[Any], prepared: list[PreparedSource], results: list[UnitResult]
) -> None:
    """A table created by this run whose files all failed is dropped, not left empty."""
    loaded = {str(r.unit.table.name) for r in results if r.is_success}
    for source in prepared:
        if source.created and source.table is not None and str(source.table.name) not in loaded:
            drop_if_unused(conn, source.table.name)


def _bookkeep(
    pool: ConnectionPool,
    run_id: uuid.UUID,
    prepared: list[PreparedSource],
    results: list[UnitResult],
    report: RunReport,
) -> None:
    with pool.connection() as conn, conn.transaction():
        _record_failures(conn, run_id, prepared, results)
        _finish_run(conn, report)


def _insert_run(
    conn: psycopg.Connection[Any], run_id: uuid.UUID, started_at: dt.datetime, config: Config
) -> None:
    conn.execute(
        "INSERT INTO pgingest.runs (run_id, started_at, config_path) VALUES (%s, %s, %s)",
        (run_id, started_at, str(config.file.resolve()) if config.file else None),
    )


def _finish_run(conn: psycopg.Connection[Any], report: RunReport) -> None:
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
            "succeeded" if report.is_success else "failed",
            report.files_attempted,
            report.files_succeeded,
            report.files_failed,
            report.files_skipped,
            report.records_parsed,
            report.records_inserted,
            report.records_rejected,
            report.records_updated,
            report.records_duplicates,
            json.dumps(report.to_dict()),
            report.run_id,
        ),
    )


def _record_failures(
    conn: psycopg.Connection[Any],
    run_id: uuid.UUID,
    prepared: list[PreparedSource],
    results: list[UnitResult],
) -> None:
    for p in prepared:
        for file, stage, error in p.failed:
            record_failed(
                conn,
                path=file.path if file else str(error.path or ""),
                fingerprint=None,
                table_name=str(p.source.table_name),
                source=p.source.name,
                stage=stage,
                error=error.describe(),
                run_id=run_id,
            )
    for result in results:
        if result.error is not None:
            unit: Unit = result.unit
            record_failed(
                conn,
                path=unit.file.path,
                fingerprint=unit.decision.fingerprint,
                table_name=str(unit.table.name),
                source=unit.source.name,
                stage=result.stage or "load",
                error=result.error.describe(),
                run_id=run_id,
                part=unit.file.part,
            )
            # The rejects that failed the file stay visible, so the user can fix them.
            write_rejects(
                conn,
                run_id=run_id,
                table_name=str(unit.table.name),
                source=unit.file.path,
                rejects=result.rejects,
            )


@dataclass(frozen=True)
class _Outcome:
    """Everything a run found and did, from which its report is made."""

    run_id: uuid.UUID
    started_at: dt.datetime
    target: DatabaseTarget
    discovered: list[DiscoveredSource]
    prepared: list[PreparedSource]
    results: list[UnitResult]


def _report(outcome: _Outcome, metrics: Metrics) -> RunReport:
    prepared, results, discovered = outcome.prepared, outcome.results, outcome.discovered
    snapshot = metrics.snapshot()
    busy, wall = RunReport.stage_figures(snapshot)
    failed: list[FailedFile] = []
    for p in prepared:
        for file, stage, error in p.failed:
            failed.append(
                FailedFile(
                    file.path if file else str(error.path or ""),
                    stage,
                    error.describe(),
                    p.source.name,
                    str(p.source.table_name),
                )
            )
    for result in results:
        if result.error is not None:
            part = result.unit.file.part
            failed.append(
                FailedFile(
                    result.unit.file.path,
                    result.stage or "load",
                    f"({part}) {result.error.describe()}" if part else result.error.describe(),
                    result.unit.source.name,
                    str(result.unit.table.name),
                )
            )
    tables: dict[str, TableFigures] = {}
    for name in dict.fromkeys(str(p.source.table_name) for p in prepared):
        done = [r for r in results if r.is_success and str(r.unit.table.name) == name]
        seconds = max((r.finished for r in done), default=0.0) - min(
            (r.started for r in done), default=0.0
        )
        tables[name] = TableFigures(sum(r.rows for r in done), seconds)
    warnings = [
        f"source {d.source.name}: pattern {pattern} matched no files"
        for d in discovered
        for pattern in d.unmatched_patterns
    ] + [
        f"{r.unit.file.path}: {r.skipped_by_trigger} row{'s' if r.skipped_by_trigger != 1 else ''} "
        f"not inserted: a BEFORE trigger on "
        f"{r.unit.table.name} turned them away"
        for r in results
        if r.is_success and r.skipped_by_trigger
    ]
    warnings += [
        f"source {d.source.name}: {alias.path} is {alias.kept} ({alias.reason}); loaded once"
        for d in discovered
        for alias in d.folded
    ]
    warnings += [lacking_warning(r.unit, r.lacking) for r in results if r.lacking and r.is_success]
    warnings += [warning for p in prepared for warning in p.warnings]
    warnings += dict.fromkeys(note for r in results if r.is_success for note in r.notes)
    succeeded = [r for r in results if r.is_success]
    return RunReport(
        run_id=str(outcome.run_id),
        started_at=outcome.started_at,
        finished_at=_now(),
        files_attempted=len(
            {r.unit.file.path for r in results if not r.skipped} | {f.path for f in failed}
        ),
        files_succeeded=len(
            {r.unit.file.path for r in succeeded}
            - {r.unit.file.path for r in results if r.error is not None}
        ),
        files_failed=len({f.path for f in failed}),
        files_skipped=sum(len(p.skipped) for p in prepared) + sum(r.skipped for r in results),
        records_parsed=sum(r.parsed for r in results),
        records_inserted=sum(r.inserted for r in succeeded),
        records_rejected=sum(r.rejected for r in results if r.is_success),
        stages=busy,
        stages_wall=wall,
        failed_files=failed,
        tables=tables,
        warnings=warnings,
        bytes_read=sum(bytes_to_read(r.unit.file) for r in succeeded),
        retries={kind: snapshot.count(f"retries.{kind}") for kind in ("file", "db", "careful")},
        records_updated=sum(r.updated for r in succeeded),
        records_duplicates=sum(r.duplicates for r in succeeded),
        records_warned=sum(r.warned for r in succeeded),
        records_skipped_by_trigger=sum(r.skipped_by_trigger for r in succeeded),
        reconciliation=_reconciliation(succeeded),
        database=str(outcome.target),
        encodings={r.unit.file.path: r.encoding for r in succeeded if r.encoding is not None},
    )
