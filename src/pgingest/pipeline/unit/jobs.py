"""Jobs an executor runs: a file (or a chunk of one), the files of an upsert in order, or a replace.

Upsert files that share a table are applied one after another, in the
source's order (``order_by``: sorted paths by default), as one job: the last
file's values win whatever the executor, the number of workers and the
largest-first scheduling of the other jobs. Each file still commits on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgingest.pipeline.unit.load import load_unit
from pgingest.pipeline.unit.model import Unit, UnitContext
from pgingest.pipeline.unit.replace import ReplaceGroup, load_replace
from pgingest.pipeline.unit.result import UnitResult

__all__ = ["Job", "OrderedGroup", "job_files", "job_size", "run_job"]


@dataclass(frozen=True)
class OrderedGroup:
    """Units of one table that must be applied in this order (upsert: the last one wins)."""

    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Bytes of all its files (for scheduling the largest work first)."""
        return sum(u.file.size for u in self.units)


Job = Unit | ReplaceGroup | OrderedGroup


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
    return [load_unit(unit, context) for unit in job.units]
