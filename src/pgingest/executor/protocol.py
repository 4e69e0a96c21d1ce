"""What an executor is: something that runs a run's jobs and hands back their results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pgingest.config import Settings
from pgingest.database import DatabaseTarget
from pgingest.pipeline.unit import Job, UnitContext, UnitResult

__all__ = ["Executor", "JobRun"]


@dataclass(frozen=True)
class JobRun:
    """What running a run's jobs needs: the units' shared context, and where workers connect."""

    context: UnitContext
    target: DatabaseTarget
    settings: Settings


class Executor(Protocol):
    """Runs a run's jobs; the run's reporter and metrics hear each one as it finishes."""

    def run_jobs(self, jobs: Sequence[Job], run: JobRun) -> list[UnitResult]:
        """Every job's results, in completion order."""
        ...

    def close(self) -> None:
        """Let go of what the executor holds (a cluster client it opened)."""
        ...
