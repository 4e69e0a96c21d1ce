"""One attempt at a unit: what it works with (fixed for the attempt) and its tally (growing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from pgingest.errors import LoadError
from pgingest.load.copy import CopyWriter
from pgingest.load.merge import Stage, stage_columns
from pgingest.match import UnitPlan
from pgingest.parse import SourceReader
from pgingest.pipeline.unit.model import Tally, TooManyRejectsError, Unit, UnitContext
from pgingest.types import TargetColumn
from pgingest.validate import RuleChecker

__all__ = ["Attempt"]


@dataclass(frozen=True)
class Attempt:
    """Everything one attempt's batches pass through; only its ``tally`` changes."""

    unit: Unit
    plan: UnitPlan
    reader: SourceReader
    context: UnitContext
    conn: psycopg.Connection[Any]
    is_careful: bool
    stage: Stage | None  # the staging table (upsert, sql rules), else rows go to the table
    rules: RuleChecker
    tally: Tally = field(default_factory=Tally)
    # A COPY statement the caller keeps open across files (a group of small files,
    # group.py): the fast path writes into it instead of a COPY of its own.
    shared_writer: CopyWriter | None = None

    @property
    def destination(self) -> Any:
        """The table the COPY writes to: the stage, or the target."""
        return self.stage.name if self.stage is not None else self.unit.table.name

    @property
    def columns(self) -> list[TargetColumn]:
        """The columns the COPY writes."""
        targets = self.plan.targets
        return stage_columns(targets) if self.stage is not None else targets

    def outgoing(self, batch: pa.RecordBatch, records: np.ndarray) -> pa.RecordBatch:
        """The batch as copied: lineage column, and the record numbers when staging."""
        batch = self.plan.with_lineage(batch)
        if self.stage is not None:
            batch = batch.append_column("_pgingest_record", pa.array(records, pa.int64()))
        return batch

    def limit(self) -> int | None:
        """How many rejects to look for before the file fails (one past max_rejects)."""
        return None if self.context.max_rejects is None else self.context.max_rejects + 1

    def check_limit(self) -> None:
        """Fail the file once its rejects are past max_rejects."""
        limit = self.context.max_rejects
        if limit is not None and len(self.tally.rejects) > limit:
            raise TooManyRejectsError(self.tally.rejects, limit)

    def rule_failure(self, description: str, record: int) -> LoadError:
        """The error of a rule whose action is ``fail``, naming the first record's line."""
        place = self.reader.locate([record]).get(record)
        return LoadError(
            f"{description} (the rule's action is fail)",
            hint='fix the file, or set the rule\'s "action" to "reject" or "warn"',
            path=self.unit.file.path,
            line=place.line if place else None,
        )
