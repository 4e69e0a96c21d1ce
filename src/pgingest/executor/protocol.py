"""What an executor is: something that runs a run's jobs, here or on workers, and hands back
their results.

Executors know nothing of what a job is: the run hands them a ``JobRunner``
(picklable, so it can travel to a worker) that runs one job in a
``Workplace`` — the connections, figures, retries and reporter it works with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from psycopg_pool import ConnectionPool

from pgingest.config import Settings
from pgingest.database import DatabaseTarget
from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.report.metrics import Metrics
from pgingest.report.reporter import Reporter
from pgingest.retry import Retrier

__all__ = ["Executor", "FinishedUnit", "JobRun", "JobRunner", "Workplace"]


class FinishedUnit(Protocol):
    """What an executor reads of a job's result, to tell the run's reporter about it."""

    @property
    def file(self) -> SourceFile: ...

    @property
    def skipped(self) -> bool: ...

    @property
    def error(self) -> PgIngestError | None: ...

    @property
    def rows(self) -> int: ...


Job_contra = TypeVar("Job_contra", contravariant=True)
Result_co = TypeVar("Result_co", bound=FinishedUnit, covariant=True)
J = TypeVar("J")
R = TypeVar("R", bound=FinishedUnit)


@dataclass(frozen=True)
class Workplace:
    """Where a job runs: its connections, where its figures and events go, how it retries."""

    pool: ConnectionPool
    metrics: Metrics
    retrier: Retrier
    reporter: Reporter
    host: str | None = None  # the host, when not the client's (a Dask worker)


class JobRunner(Protocol[Job_contra, Result_co]):
    """Runs one job in a workplace; picklable, so that it can travel to a worker."""

    def __call__(self, job: Job_contra, place: Workplace) -> Sequence[Result_co]: ...


@dataclass(frozen=True)
class JobRun(Generic[J, R]):
    """A run's jobs as an executor sees them: how to run one, the run's own workplace,
    and where workers elsewhere connect."""

    runner: JobRunner[J, R]
    here: Workplace
    target: DatabaseTarget
    settings: Settings


class Executor(Protocol):
    """Runs a run's jobs; the run's reporter and metrics hear each one as it finishes."""

    def run_jobs(self, jobs: Sequence[J], run: JobRun[J, R]) -> list[R]:
        """Every job's results, in completion order."""
        ...

    def close(self) -> None:
        """Let go of what the executor holds (a cluster client it opened)."""
        ...
