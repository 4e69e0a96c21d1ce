"""Jobs an executor runs: a file (or a chunk of one), or all files of a replace."""

from __future__ import annotations

from pgingest.pipeline.attempt import Unit, UnitContext
from pgingest.pipeline.replace import ReplaceGroup, load_replace
from pgingest.pipeline.unit import UnitResult, load_unit

__all__ = ["Job", "job_files", "job_size", "run_job"]

Job = Unit | ReplaceGroup


def job_size(job: Job) -> int:
    """Bytes the job reads (the largest go first, so the tail of a run stays short)."""
    return job.size if isinstance(job, ReplaceGroup) else job.file.size


def job_files(job: Job) -> list[Unit]:
    """The units of a job."""
    return list(job.units) if isinstance(job, ReplaceGroup) else [job]


def run_job(job: Job, context: UnitContext) -> list[UnitResult]:
    """Run a job; one result per file (or chunk)."""
    if isinstance(job, ReplaceGroup):
        return load_replace(job, context)
    return [load_unit(job, context)]
