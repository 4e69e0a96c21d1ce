"""Executors run a run's jobs: on local threads by default, or as tasks on a Dask cluster.

Which one runs is chosen here, in ``executor_for``, and nowhere else; the rest
of pgingest sees only the ``Executor`` protocol.
"""

from __future__ import annotations

from pgingest.config import Settings
from pgingest.executor.dask import DaskExecutor
from pgingest.executor.local import LocalExecutor
from pgingest.executor.protocol import Executor, JobRun, Workplace

__all__ = [
    "DaskExecutor",
    "Executor",
    "JobRun",
    "LocalExecutor",
    "Workplace",
    "executor_for",
]


def executor_for(settings: Settings, *, workers: int) -> Executor:
    """The executor the settings ask for: a Dask cluster's, else ``workers`` local threads."""
    if settings.executor == "dask":
        assert settings.scheduler is not None
        return DaskExecutor.connect(settings.scheduler)
    return LocalExecutor(workers)
