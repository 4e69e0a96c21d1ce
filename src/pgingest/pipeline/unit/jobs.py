"""Jobs an executor runs: a file (or a chunk of one), the files of an upsert in order, a replace,
or small append files several to a transaction (group.py).

Upsert files that share a table are applied one after another, in the
source's order (``order_by``: sorted paths by default), as one job: the last
file's values win whatever the executor, the number of workers and the
largest-first scheduling of the other jobs. Each file still commits on its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pgingest.convert import ConvertContext
from pgingest.executor.protocol import Workplace
from pgingest.pipeline.unit.elsewhere import seen_from
from pgingest.pipeline.unit.group import AppendGroup, load_group
from pgingest.pipeline.unit.load import load_unit
from pgingest.pipeline.unit.model import Unit, UnitContext
from pgingest.pipeline.unit.replace import ReplaceGroup, load_replace
from pgingest.pipeline.unit.result import UnitResult

__all__ = ["Job", "OrderedGroup", "UnitRunner", "job_files", "job_size", "run_job"]


@dataclass(frozen=True)
class OrderedGroup:
    """Units of one table that must be applied in this order (upsert: the last one wins)."""

    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Bytes of all its files (for scheduling the largest work first)."""
        return sum(u.file.size for u in self.units)


Job = Unit | ReplaceGroup | OrderedGroup | AppendGroup


def job_size(job: Job) -> int:
    """Bytes the job reads (the largest go first, so the tail of a run stays short)."""
    return job.size


def job_files(job: Job) -> list[Unit]:
    """The units of a job."""
    return list(job.units)


def run_job(job: Job, context: UnitContext) -> list[UnitResult]:
    """Run a job; one result per file (or chunk)."""
    if isinstance(job, ReplaceGroup):
        return load_replace(job, context)
    if isinstance(job, AppendGroup):
        return load_group(job, context)
    return [load_unit(unit, context) for unit in job.units]


@dataclass(frozen=True)
class UnitRunner:
    """Runs a run's jobs in a workplace: small and picklable, it travels to Dask workers."""

    run_id: uuid.UUID
    batch_rows: int
    convert: ConvertContext
    max_rejects: int | None
    max_reject_ratio: float | None

    def __call__(self, job: Job, place: Workplace) -> list[UnitResult]:
        """Run ``job`` with the workplace's connections, figures, retries and reporter."""
        results = run_job(job, self.context(place))
        if place.host is None:
            return results
        return [seen_from(place.host, result) for result in results]

    def context(self, place: Workplace) -> UnitContext:
        """What the job's units share, in this workplace."""
        return UnitContext(
            pool=place.pool,
            run_id=self.run_id,
            batch_rows=self.batch_rows,
            convert=self.convert,
            metrics=place.metrics,
            retrier=place.retrier,
            max_rejects=self.max_rejects,
            reporter=place.reporter,
            max_reject_ratio=self.max_reject_ratio,
        )
