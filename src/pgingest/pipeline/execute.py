"""Running a run's jobs: on local threads over the run's pool, or as tasks on a Dask cluster."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from pgingest.errors import ConfigError
from pgingest.executor import LocalExecutor
from pgingest.executor.dask import DaskExecutor
from pgingest.pipeline.attempt import UnitContext
from pgingest.pipeline.jobs import Job, run_job
from pgingest.pipeline.remote import WorkerSpec, run_on_worker
from pgingest.pipeline.unit import UnitResult

__all__ = ["run_jobs"]


def run_jobs(
    jobs: Sequence[Job],
    context: UnitContext,
    *,
    executor: LocalExecutor | DaskExecutor,
    spec: WorkerSpec | None = None,
) -> list[UnitResult]:
    """Every job's results, in completion order; the context's reporter hears each one."""
    if isinstance(executor, LocalExecutor):
        return [
            result
            for done in executor.map_unordered(lambda job: run_job(job, context), jobs)
            for result in done
        ]
    if spec is None:
        raise ConfigError("the dask executor needs a database URL its workers can reach")
    results: list[UnitResult] = []
    for outcome in executor.map_unordered(partial(run_on_worker, spec), jobs):
        context.metrics.merge(outcome.metrics)
        for result in outcome.results:
            _tell(context, result)
        results.extend(outcome.results)
    return results


def _tell(context: UnitContext, result: UnitResult) -> None:
    """What a worker did, told to the client's reporter when its result arrives."""
    reporter = context.reporter
    file = result.unit.file
    reporter.unit_started(file)
    if result.skipped:
        reporter.file_skipped(file, "loaded by another run")
    elif result.error is not None:
        reporter.unit_failed(file, result.error)
    else:
        reporter.rows_loaded(file, rows=result.rows, fraction=1.0)
        reporter.unit_finished(file, rows=result.rows)
