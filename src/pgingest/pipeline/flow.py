"""What one attempt at a unit works with: the unit, the run's shared context, and its tally."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg_pool import ConnectionPool

from pgingest.config import DEFAULT_MAX_REJECT_RATIO, Source
from pgingest.convert import ConvertContext
from pgingest.discover import SourceFile
from pgingest.load.catalog import Table
from pgingest.load.merge import Stage, stage_columns
from pgingest.manifest import Decision
from pgingest.match import UnitPlan
from pgingest.parse import SourceReader
from pgingest.report.metrics import Metrics
from pgingest.report.rejects import Reject
from pgingest.report.reporter import NullReporter, Reporter
from pgingest.retry import Retrier
from pgingest.types import TargetColumn
from pgingest.validate import RuleChecker

__all__ = [
    "Attempt",
    "CopyRows",
    "Flow",
    "LoadedElsewhereError",
    "RejectRatioError",
    "RetryCarefullyError",
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


@dataclass
class Attempt:
    """What one attempt did: the figures that must reconcile, and the rejects."""

    parsed: int = 0
    copied: int = 0  # rows sent to the target or the stage
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    skipped: int = 0  # turned away by a BEFORE trigger on the table (COPY's count is lower)
    warned: int = 0
    rejects: list[Reject] = field(default_factory=list)
    lacking: tuple[str, ...] = ()  # table columns the file does not have

    @property
    def accounted(self) -> int:
        """Records the attempt can say what became of."""
        return self.inserted + self.updated + self.duplicates + self.skipped + len(self.rejects)


class CopyRows:
    """Which file record each row of a COPY came from, to name the line of a server error.

    Kept as runs of consecutive records (a run breaks only where a record was set
    aside), so a file of any length costs O(runs), not 8 bytes a row for the whole
    file (issue 17: 30M rows held 370 MB).
    """

    def __init__(self) -> None:
        self._starts: list[int] = []  # the COPY row where each run starts
        self._firsts: list[int] = []  # the record of that row
        self.rows = 0

    def add(self, records: np.ndarray) -> None:
        breaks = np.flatnonzero(np.diff(records) != 1) + 1
        for offset in [0, *breaks.tolist()] if len(records) else []:
            row, record = self.rows + offset, int(records[offset])
            if self._starts and record - self._firsts[-1] == row - self._starts[-1]:
                continue  # continues the last run
            self._starts.append(row)
            self._firsts.append(record)
        self.rows += len(records)

    def record_of(self, copy_row: int) -> int | None:
        index = bisect.bisect_right(self._starts, copy_row) - 1
        if index < 0 or copy_row >= self.rows:
            return None
        return self._firsts[index] + copy_row - self._starts[index]


@dataclass
class Flow:
    """Everything an attempt's batches pass through."""

    unit: Unit
    plan: UnitPlan
    reader: SourceReader
    ctx: UnitContext
    conn: psycopg.Connection[Any]
    careful: bool
    stage: Stage | None
    rules: RuleChecker
    attempt: Attempt = field(default_factory=Attempt)

    @property
    def destination(self) -> Any:
        return self.stage.name if self.stage is not None else self.unit.table.name

    @property
    def columns(self) -> list[TargetColumn]:
        targets = self.plan.targets
        return stage_columns(targets) if self.stage is not None else targets

    def outgoing(self, batch: pa.RecordBatch, records: np.ndarray) -> pa.RecordBatch:
        """The batch as copied: lineage column, and the record numbers when staging."""
        batch = self.plan.with_lineage(batch)
        if self.stage is not None:
            batch = batch.append_column("_pgingest_record", pa.array(records, pa.int64()))
        return batch

    def limit(self) -> int | None:
        return None if self.ctx.max_rejects is None else self.ctx.max_rejects + 1

    def check_limit(self) -> None:
        limit = self.ctx.max_rejects
        if limit is not None and len(self.attempt.rejects) > limit:
            raise TooManyRejectsError(self.attempt.rejects, limit)
