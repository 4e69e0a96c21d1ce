"""What a Dask worker runs: a job, over the worker's own connections, with its own figures.

Everything a task needs travels in a small picklable WorkerSpec; the worker
keeps one connection pool per database for its lifetime (a process-wide cache:
tasks come and go, connections stay), and sends back the job's results with
the figures it measured, which the client adds to the run's.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from pgingest.config import DEFAULT_MAX_REJECT_RATIO, RetrySettings
from pgingest.convert import ConvertContext
from pgingest.errors import SourceError
from pgingest.load.connect import open_pool
from pgingest.pipeline.attempt import UnitContext
from pgingest.pipeline.jobs import Job, run_job
from pgingest.pipeline.unit import UnitResult
from pgingest.report.metrics import Metrics, MetricsSnapshot
from pgingest.retry import Retrier

__all__ = ["WorkerOutcome", "WorkerSpec", "run_on_worker"]


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to run any job of a run."""

    database_url: str = field(repr=False)  # may hold a password
    run_id: uuid.UUID
    batch_rows: int
    timezone: str
    retry: RetrySettings
    max_rejects: int | None
    connections: int  # per worker process
    max_reject_ratio: float | None = DEFAULT_MAX_REJECT_RATIO


@dataclass(frozen=True)
class WorkerOutcome:
    """A job's results and the figures measured while it ran."""

    results: list[UnitResult]
    metrics: MetricsSnapshot


_pools: dict[tuple[str, int], ConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool(spec: WorkerSpec) -> ConnectionPool:
    key = (spec.database_url, spec.connections)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = open_pool(spec.database_url, spec.connections)
            _pools[key] = pool
        return pool


def run_on_worker(spec: WorkerSpec, job: Job) -> WorkerOutcome:
    """Run one job on this worker and return its results with its figures."""
    metrics = Metrics()
    context = UnitContext(
        pool=_pool(spec),
        run_id=spec.run_id,
        batch_rows=spec.batch_rows,
        convert=ConvertContext(timezone=spec.timezone),
        metrics=metrics,
        retrier=Retrier(spec.retry, on_retry=lambda kind, _exc: metrics.add(f"retries.{kind}")),
        max_rejects=spec.max_rejects,
        max_reject_ratio=spec.max_reject_ratio,
    )
    results = [_on_this_worker(result) for result in run_job(job, context)]
    return WorkerOutcome(results, metrics.snapshot())


def _on_this_worker(result: UnitResult) -> UnitResult:
    """A local file the client found but this worker cannot see: say which host, and why."""
    path = result.unit.file.path
    if not isinstance(result.error, SourceError) or result.unit.file.origin is not None:
        return result
    if os.path.exists(path):
        return result
    error = SourceError(
        f"not found on Dask worker host {socket.gethostname()} ({_worker_address()}), "
        "though the client found it",
        hint="every worker must see a local file at the same path: put the files on a "
        "folder every host mounts, or in an object store (s3://, gs://)",
        path=path,
    )
    return dataclasses.replace(result, error=error)


def _worker_address() -> str:
    try:
        from distributed import get_worker  # noqa: PLC0415 - present on a Dask worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "not a Dask worker"
