"""The Dask executor: units of work as tasks on a dask.distributed cluster.

dask is an optional extra (``pip install 'pgingest[dask]'``) and is imported
only when this executor is used. Each task runs on a worker process that
parses its file and loads it over its own connections to the database;
only the job's description and a small WorkerSpec go out, and only its
results and figures come back, told to the run's reporter and metrics as they
arrive. When a worker dies, the scheduler runs its tasks again elsewhere, and
the manifest makes each unit land once.

A worker keeps one connection pool per database for its lifetime (a
process-wide cache: tasks come and go, connections stay).
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from psycopg_pool import ConnectionPool

from pgingest.config import RetrySettings
from pgingest.errors import ConfigError
from pgingest.executor.protocol import FinishedUnit, JobRun, JobRunner, Workplace
from pgingest.load.connect import open_pool
from pgingest.report.metrics import Metrics, MetricsSnapshot
from pgingest.report.reporter import NullReporter, Reporter
from pgingest.retry import Retrier

__all__ = ["DaskExecutor", "WorkerOutcome", "WorkerSpec", "run_on_worker"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
J = TypeVar("J")
U = TypeVar("U", bound=FinishedUnit)

# Tasks in flight per worker thread: enough to keep every thread busy while a
# result travels back, few enough that the client never holds many results.
TASKS_PER_THREAD = 2

# Connections per worker process when the settings name none.
WORKER_CONNECTIONS = 2


def _distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError as exc:
        raise ConfigError(
            "the dask executor needs dask.distributed, which is not installed",
            hint="pip install 'pgingest[dask]'",
        ) from exc
    return distributed


class DaskExecutor:
    """Runs units as Dask tasks; results come back in completion order."""

    def __init__(self, client: Any, *, owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client

    @classmethod
    def connect(cls, scheduler: str) -> DaskExecutor:
        """An executor on the cluster whose scheduler listens at ``scheduler``."""
        distributed = _distributed()
        try:
            client = distributed.Client(scheduler, timeout="20s", set_as_default=False)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                hint="start it with `dask scheduler` (and workers with `dask worker ADDRESS`), "
                "or check --scheduler",
            ) from exc
        return cls(client, owns_client=True)

    def run_jobs(self, jobs: Sequence[J], run: JobRun[J, U]) -> list[U]:
        """Every job as a task; each result and its figures told to the run as it arrives."""
        spec = WorkerSpec.of(run)
        results: list[U] = []
        task = partial(run_on_worker, spec, run.runner)
        for outcome in self.map_unordered(task, jobs):
            run.here.metrics.merge(outcome.metrics)
            for result in outcome.results:
                _tell(run.here.reporter, result)
            results.extend(outcome.results)
        return results

    def threads(self) -> int:
        """Worker threads across the cluster (at least 1)."""
        return max(int(sum(self.client.nthreads().values())), 1)

    def map_unordered(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results of ``function`` over ``items`` as tasks finish; submission is bounded."""
        distributed = _distributed()
        limit = self.threads() * TASKS_PER_THREAD
        source = iter(items)
        first = [
            self.client.submit(function, item, pure=False)
            for item in itertools.islice(source, limit)
        ]
        if not first:
            return
        finished = distributed.as_completed(first, loop=self.client.loop)
        for future in finished:
            result: R = future.result()
            future.release()
            yield result
            for item in itertools.islice(source, 1):
                finished.add(self.client.submit(function, item, pure=False))

    def close(self) -> None:
        """Disconnect (only a client this executor opened)."""
        if self._owns_client:
            self.client.close()


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to make a workplace for the run's jobs."""

    database_url: str = field(repr=False)  # may hold a password
    retry: RetrySettings
    connections: int  # per worker process

    @classmethod
    def of(cls, run: JobRun[Any, Any]) -> WorkerSpec:
        """The spec of a run; the embedded server is out of the workers' reach."""
        if run.target.is_embedded:
            raise ConfigError(
                "Dask workers cannot reach the embedded PostgreSQL (it listens on a Unix "
                "socket on this machine only)",
                hint="set DATABASE_URL (or --database-url) to a PostgreSQL server the workers "
                "can reach over TCP",
            )
        settings = run.settings
        return cls(
            database_url=run.target.url,
            retry=settings.retry,
            connections=settings.connections or WORKER_CONNECTIONS,
        )


@dataclass(frozen=True)
class WorkerOutcome(Generic[U]):
    """A job's results and the figures measured while it ran."""

    results: Sequence[U]
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


def run_on_worker(spec: WorkerSpec, runner: JobRunner[J, U], job: J) -> WorkerOutcome[U]:
    """Run one job on this worker and return its results with its figures."""
    metrics = Metrics()
    place = Workplace(
        pool=_pool(spec),
        metrics=metrics,
        retrier=Retrier(spec.retry, on_retry=lambda kind, _exc: metrics.add(f"retries.{kind}")),
        reporter=NullReporter(),  # the client tells the run's reporter when results arrive
        host=_worker_host(),
    )
    return WorkerOutcome(runner(job, place), metrics.snapshot())


def _worker_host() -> str:
    """This worker, as an error message names it: host name and Dask address."""
    try:
        address = str(_distributed().get_worker().address)
    except ValueError:  # not inside a worker task (a test calling run_on_worker directly)
        address = "not a Dask worker"
    return f"Dask worker host {socket.gethostname()} ({address})"


def _tell(reporter: Reporter, result: FinishedUnit) -> None:
    """What a worker did, told to the client's reporter when its result arrives."""
    file = result.file
    reporter.unit_started(file)
    if result.skipped:
        reporter.file_skipped(file, "loaded by another run")
    elif result.error is not None:
        reporter.unit_failed(file, result.error)
    else:
        reporter.rows_loaded(file, rows=result.rows, fraction=1.0)
        reporter.unit_finished(file, rows=result.rows)
