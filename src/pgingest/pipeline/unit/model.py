"""The nouns of a file's load: the unit, what a run's units share, and an attempt's tally.

Also the signals one attempt raises to the loop around it (load.py): read
again carefully, another run loaded the file first, too many rejects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from pgingest.config import DEFAULT_MAX_REJECT_RATIO, Source
from pgingest.convert import ConvertContext
from pgingest.discover import SourceFile
from pgingest.load.catalog import Table
from pgingest.report.metrics import Metrics
from pgingest.report.reporter import NullReporter, Reporter
from pgingest.retry import Retrier
from pgingest.store.manifest import Decision
from pgingest.store.rejects import Reject

__all__ = [
    "LoadedElsewhereError",
    "RejectRatioError",
    "RetryCarefullyError",
    "Tally",
    "TooManyRejectsError",
    "Unit",
    "UnitContext",
]


@dataclass(frozen=True)
class Unit:
    """A file to load into a table, with the manifest's decision about it."""

    file: SourceFile
    source: Source
    table: Table
    decision: Decision

    @property
    def units(self) -> tuple[Unit, ...]:
        """The units of this job: itself (a group of units answers with its members)."""
        return (self,)

    @property
    def size(self) -> int:
        """Bytes it reads (for scheduling the largest work first)."""
        return self.file.size


@dataclass(frozen=True)
class UnitContext:
    """What every unit of a run shares."""

    pool: ConnectionPool
    run_id: uuid.UUID
    batch_rows: int
    convert: ConvertContext
    metrics: Metrics
    retrier: Retrier = field(default_factory=Retrier)
    max_rejects: int | None = None
    reporter: Reporter = field(default_factory=NullReporter)
    max_reject_ratio: float | None = DEFAULT_MAX_REJECT_RATIO  # a source's own wins


@dataclass
class Tally:
    """What one attempt did: the figures that must reconcile, and the rejects.

    The attempt that lands hands its tally to the unit's result as it is: the
    figures are counted once, here, and read from here by every view.
    """

    parsed: int = 0
    copied: int = 0  # rows sent to the target or the stage
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    skipped: int = 0  # turned away by a BEFORE trigger on the table (COPY's count is lower)
    warned: int = 0
    rescued: int = 0  # rows written with a rescued value (of the rows inserted or updated)
    rejects: list[Reject] = field(default_factory=list)
    lacking: tuple[str, ...] = ()  # table columns the file does not have

    @property
    def accounted(self) -> int:
        """Records the attempt can say what became of."""
        return self.inserted + self.updated + self.duplicates + self.skipped + len(self.rejects)

    @property
    def rows(self) -> int:
        """Rows inserted or updated."""
        return self.inserted + self.updated


class RetryCarefullyError(Exception):
    """The fast path met something only the careful path can pin down."""


class LoadedElsewhereError(Exception):
    """Another run committed this very file first; this attempt rolled back."""


class TooManyRejectsError(Exception):
    """More rejects than max_rejects: the file fails, its rejects are kept for the user."""

    def __init__(self, rejects: list[Reject], limit: int) -> None:
        super().__init__(f"{len(rejects)} rejects")
        self.rejects = rejects
        self.limit = limit


class RejectRatioError(TooManyRejectsError):
    """More of the file's records rejected than max_reject_ratio allows."""

    def __init__(self, rejects: list[Reject], *, parsed: int, ratio: float) -> None:
        super().__init__(rejects, len(rejects))
        self.parsed = parsed
        self.ratio = ratio
