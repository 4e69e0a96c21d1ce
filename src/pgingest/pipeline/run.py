"""A whole run: discover → prepare (tables, manifest) → load units in parallel → report."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from pgingest.config import Config
from pgingest.convert import ConvertContext
from pgingest.database import DatabaseTarget, resolve_database
from pgingest.discover import DiscoveredSource, discover_files
from pgingest.errors import PgIngestError
from pgingest.executor import Executor, JobRun, Workplace, executor_for
from pgingest.load.catalog import server_timezone
from pgingest.load.connect import connect, free_connections, open_pool, translate_db_error
from pgingest.load.create import drop_if_unused
from pgingest.pipeline.prepare import PreparedSource, prepare_source
from pgingest.pipeline.summary import RunOutcome, failures, summarize
from pgingest.pipeline.unit import (
    Job,
    OrderedGroup,
    Unit,
    UnitResult,
    UnitRunner,
    group_small_files,
    job_files,
    job_size,
)
from pgingest.remote import remove_dead_folders
from pgingest.report.logs import StageLogger
from pgingest.report.metrics import Metrics, peak_memory_bytes
from pgingest.report.position import bytes_to_read
from pgingest.report.progress import ProgressState
from pgingest.report.reporter import CompositeReporter, Reporter
from pgingest.report.timeline import Timeline
from pgingest.retry import Retrier
from pgingest.store.manifest import look_up, record_failed
from pgingest.store.rejects import write_rejects
from pgingest.store.run_lock import mark_interrupted, run_lock_taker
from pgingest.store.runs import fail_unfinished_run, finish_run, insert_run
from pgingest.store.schema import ensure_schema
from pgingest.summary import RunReport

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
    executor: Executor | None = None  # default: as the config says


def _cpu_count() -> int:
    return max(os.cpu_count() or 1, 1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _config_path(config: Config) -> str | None:
    """The config as pgingest.runs keeps it: its absolute path (None for one built in code)."""
    return str(config.file.resolve()) if config.file else None


@dataclass(frozen=True)
class _Observers:
    """Who hears a run: its own tally (for the report's batches and timeline), its stage
    log, then the caller's reporter."""

    progress: ProgressState
    timeline: Timeline
    reporter: Reporter

    @classmethod
    def start(cls, metrics: Metrics, caller: Reporter | None) -> _Observers:
        progress = ProgressState(clock=metrics.now)
        timeline = Timeline(progress, clock=metrics.now)
        reporter = CompositeReporter(progress, timeline, StageLogger(clock=metrics.now), caller)
        return cls(progress, timeline, reporter)


@dataclass(frozen=True)
class _RunScope:
    """What every step of one run shares."""

    run_id: uuid.UUID
    started_at: dt.datetime
    config: Config
    options: RunOptions
    target: DatabaseTarget
    metrics: Metrics
    retrier: Retrier
    observers: _Observers


def run(config: Config, options: RunOptions | None = None) -> RunReport:
    """Load every file the config matches; returns the run report.

    Problems with single files are reported, not raised. Raises ConfigError for
    a bad config and ConnectError when the database cannot be reached.
    """
    options = options or RunOptions()
    metrics = options.metrics or Metrics()
    observers = _Observers.start(metrics, options.reporter)
    started_at = _now()
    run_id = uuid.uuid4()
    retrier = Retrier(
        config.settings.retry,
        sleep=options.sleep or time.sleep,
        on_retry=lambda kind, _exc: metrics.add(f"retries.{kind}"),
    )
    remove_dead_folders()  # temporary files of runs that were killed
    discovered = _discover(config, observers.reporter, metrics)
    target = resolve_database(config, options.database_url)
    logger.info("run %s: loading into %s", run_id, target)
    scope = _RunScope(run_id, started_at, config, options, target, metrics, retrier, observers)
    pool = _open_pool(scope)
    try:
        return _load(scope, pool, discovered)
    except psycopg.Error as exc:
        _end_stopped_run(pool, run_id)
        raise translate_db_error(exc, url=target.url) from exc
    except PgIngestError:
        _end_stopped_run(pool, run_id)
        raise
    finally:
        pool.close()


def _open_pool(scope: _RunScope) -> ConnectionPool:
    """The run's pool: every connection holds the run's lock while it lasts (see run_lock.py)."""
    wanted = scope.config.settings.connections or _cpu_count()
    url = scope.target.url
    connections = scope.retrier.call(lambda: _usable_connections(url, wanted), what="connecting")
    return open_pool(url, connections, configure=run_lock_taker(scope.run_id))


def _load(scope: _RunScope, pool: ConnectionPool, discovered: list[DiscoveredSource]) -> RunReport:
    """Prepare the sources, run their jobs, and record the run."""
    config, metrics, run_id = scope.config, scope.metrics, scope.run_id
    reporter = scope.observers.reporter
    with pool.connection() as conn:
        ensure_schema(conn)
        mark_interrupted(conn)
        timezone = server_timezone(conn)
        insert_run(conn, run_id, scope.started_at, _config_path(config))
        prepared = _prepare(
            conn, discovered, config, options=scope.options, reporter=reporter, metrics=metrics
        )
    jobs = _jobs(prepared, reporter)
    results = run_jobs(jobs, _job_run(scope, pool, timezone), executor=scope.options.executor)
    with pool.connection() as conn:
        _drop_unused_tables(conn, prepared, results)
    outcome = RunOutcome(
        run_id,
        scope.started_at,
        str(scope.target),
        _config_path(config),
        discovered,
        prepared,
        results,
    )
    report = summarize(
        outcome,
        metrics.snapshot(),
        batches=scope.observers.progress.snapshot().batches,
        peak_memory_bytes=peak_memory_bytes(),
        timeline=scope.observers.timeline.points(),
    )
    scope.retrier.call(lambda: _bookkeep(pool, outcome, report), what="recording the run")
    reporter.run_finished(report)
    return report


def _job_run(scope: _RunScope, pool: ConnectionPool, timezone: str) -> JobRun[Job, UnitResult]:
    """The run's jobs as executors see them: how to run one, and the run's own workplace."""
    settings = scope.config.settings
    runner = UnitRunner(
        run_id=scope.run_id,
        batch_rows=settings.batch_size,
        convert=ConvertContext(timezone=timezone),
        max_rejects=settings.max_rejects,
        max_reject_ratio=settings.max_reject_ratio,
    )
    here = Workplace(pool, scope.metrics, scope.retrier, scope.observers.reporter)
    return JobRun(runner, here, scope.target, settings)


def run_jobs(
    jobs: Sequence[Job], run: JobRun[Job, UnitResult], *, executor: Executor | None = None
) -> list[UnitResult]:
    """Every job on ``executor``, else on one made for this run as the settings say."""
    workers = run.settings.workers or _cpu_count()
    chosen = executor or executor_for(run.settings, workers=workers)
    try:
        return chosen.run_jobs(jobs, run)
    finally:
        if executor is None:  # the caller's executor is the caller's to close
            chosen.close()


def _end_stopped_run(pool: ConnectionPool, run_id: uuid.UUID) -> None:
    """A run stopped by a reported error (a config error found while preparing) ends ``failed``.

    Best effort: when the database itself is what failed, the row stays ``running``
    until the next run marks it ``interrupted``, as after a kill or an internal error.
    """
    try:
        with pool.connection(timeout=STOPPED_RUN_TIMEOUT_SECONDS) as conn:
            fail_unfinished_run(conn, run_id)
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
        # One manifest query for every candidate file of every source.
        lookup = look_up(
            conn, [(str(d.source.table_name), [f.path for f in d.files]) for d in discovered]
        )
        prepared = [
            prepare_source(
                conn,
                found,
                index,
                retry_failed=options.retry_failed,
                chunk_bytes=config.settings.chunk_bytes,
                max_rejects=config.settings.max_rejects,
                lookup=lookup,
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
    changes which file's values win. Small append files form groups that land
    several to a transaction (unit/group.py).
    """
    alone: list[Unit] = []
    ordered: dict[str, list[Unit]] = {}
    for p in prepared:
        for unit in p.units:
            if unit.source.mode == "upsert":
                ordered.setdefault(str(unit.table.name), []).append(unit)
            else:
                alone.append(unit)
    jobs: list[Job] = [*group_small_files(alone)]
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


def _bookkeep(pool: ConnectionPool, outcome: RunOutcome, report: RunReport) -> None:
    """The run's end in one transaction: the failed units' manifest rows and the run's row."""
    with pool.connection() as conn, conn.transaction():
        _record_failures(conn, outcome)
        finish_run(conn, report)


def _record_failures(conn: psycopg.Connection[Any], outcome: RunOutcome) -> None:
    for failure in failures(outcome):
        record_failed(
            conn,
            path=failure.path,
            fingerprint=failure.fingerprint,
            table_name=failure.table,
            source=failure.source,
            stage=failure.stage,
            error=failure.error.describe(),
            run_id=outcome.run_id,
            part=failure.part,
        )
        # The rejects that failed the file stay visible, so the user can fix them.
        write_rejects(
            conn,
            run_id=outcome.run_id,
            table_name=failure.table,
            source=failure.path,
            rejects=failure.rejects,
        )
