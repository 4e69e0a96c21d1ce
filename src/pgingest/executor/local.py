"""The local executor: a fixed set of worker threads.

Parsing (pyarrow), encoding (pgpq) and COPY I/O (libpq) all run outside the
GIL for most of their time, so threads keep every core busy without the cost
of moving batches between processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from pgingest.executor.protocol import FinishedUnit, JobRun

__all__ = ["LocalExecutor"]

T = TypeVar("T")
R = TypeVar("R")
J = TypeVar("J")
U = TypeVar("U", bound=FinishedUnit)


class LocalExecutor:
    """Runs items on ``workers`` threads, at most ``workers`` in flight at once."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers

    def run_jobs(self, jobs: Sequence[J], run: JobRun[J, U]) -> list[U]:
        """Every job's results, in completion order, in the run's own workplace."""
        return [
            result
            for done in self.map_unordered(lambda job: run.runner(job, run.here), jobs)
            for result in done
        ]

    def close(self) -> None:
        """Nothing to let go of: the threads end with each run."""

    def map_unordered(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results in completion order; submission is bounded so queues never grow."""
        pending: set[Future[R]] = set()
        source = iter(items)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="pgingest-unit") as pool:
            for item in source:
                pending.add(pool.submit(function, item))
                if len(pending) >= self.workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
