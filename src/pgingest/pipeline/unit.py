"""One unit of work: a file parsed, converted, encoded and copied, atomically with its manifest row.

Stages, in order: parse → convert → encode → copy, then the manifest row and
commit. The unit first runs in fast mode; if a value does not convert, a row
is ragged or JSON keys drift, it runs again in careful mode, which reads every
value as text and names the exact record at fault.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from pgingest.config import Source
from pgingest.convert import ColumnTypeError, ConvertContext, convert_batch
from pgingest.discover import SourceFile
from pgingest.errors import LoadError, ParseError, PgIngestError
from pgingest.load.catalog import Table
from pgingest.load.connect import translate_db_error
from pgingest.load.copy import CopyWriter, copy_row_of_error
from pgingest.manifest import Decision, record_loaded
from pgingest.match import UnitPlan, match_columns
from pgingest.parse import SchemaDrift, SourceBatch, SourceReader, open_reader
from pgingest.report.metrics import Metrics
from pgingest.report.reporter import NullReporter, Reporter

__all__ = ["Unit", "UnitContext", "UnitResult", "load_unit"]

logger = logging.getLogger(__name__)


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
    reporter: Reporter = field(default_factory=NullReporter)


@dataclass(frozen=True)
class UnitResult:
    """How a unit ended."""

    unit: Unit
    rows: int = 0
    parsed: int = 0
    rejected: int = 0
    started: float = 0.0
    finished: float = 0.0
    error: PgIngestError | None = None
    stage: str | None = None

    @property
    def is_success(self) -> bool:
        """Whether the unit's rows landed."""
        return self.error is None


class _RetryCarefully(Exception):  # noqa: N818 - control flow inside this module
    """The fast path met something only the careful path can pin down."""


class _CopyRows:
    """Which file record each COPY row came from, to name the line a server error is about."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._records: list[np.ndarray] = []
        self.rows = 0

    def add(self, records: np.ndarray) -> None:
        self._starts.append(self.rows)
        self._records.append(records)
        self.rows += len(records)

    def record_of(self, copy_row: int) -> int | None:
        index = int(np.searchsorted(self._starts, copy_row, side="right")) - 1
        if index < 0 or copy_row >= self.rows:
            return None
        return int(self._records[index][copy_row - self._starts[index]])


def _timed_batches(batches: Iterator[SourceBatch], metrics: Metrics) -> Iterator[SourceBatch]:
    while True:
        start = metrics.now()
        try:
            batch = next(batches)
        except StopIteration:
            return
        finally:
            metrics.record_stage("parse", start, metrics.now())
        yield batch


def _check_skipped(batch: SourceBatch, reader: SourceReader, file: SourceFile) -> None:
    if not batch.skipped:
        return
    first = batch.skipped[0]
    line = reader.line_numbers([first.record]).get(first.record)
    raise ParseError(f"{first.reason}: {first.text[:200]!r}", path=file.path, line=line)


def _copy_unit(
    unit: Unit, plan: UnitPlan, reader: SourceReader, ctx: UnitContext, *, careful: bool
) -> tuple[int, int]:
    """Copy the whole file and write its manifest row in one transaction; (rows, parsed)."""
    metrics = ctx.metrics
    targets = plan.targets
    read_plan = plan.read_plan(batch_rows=ctx.batch_rows, careful=careful)
    convert_context = replace(ctx.convert, binary_is_text=careful)
    copied = _CopyRows()
    parsed = 0
    writer: CopyWriter | None = None
    with ctx.pool.connection() as conn:
        try:
            with conn.transaction(), conn.cursor() as cursor:
                with CopyWriter(cursor, unit.table.name, targets, metrics=metrics) as writer:
                    for batch in _timed_batches(iter(reader.read(read_plan)), metrics):
                        if careful:
                            _check_skipped(batch, reader, unit.file)
                        parsed += batch.num_rows + len(batch.skipped)
                        with metrics.stage("convert"):
                            converted = convert_batch(
                                batch.data, targets, convert_context, limit=1 if careful else 0
                            )
                        if converted.bad:
                            if not careful:
                                raise _RetryCarefully(converted.bad[0].reason)
                            _raise_bad_value(converted.bad[0], batch, reader, unit.file)
                        writer.write(converted.batch)
                        records = batch.record_numbers()
                        if converted.kept_rows is not None:
                            records = records[converted.kept_rows.to_numpy()]
                        copied.add(records)
                        ctx.reporter.rows_loaded(
                            unit.file, rows=converted.batch.num_rows, fraction=0.0
                        )
                record_loaded(
                    conn,
                    decision=unit.decision,
                    table_name=str(unit.table.name),
                    rows=copied.rows,
                    rejected=0,
                    run_id=ctx.run_id,
                )
                start = metrics.now()
            metrics.record_stage("copy", start, metrics.now())
        except psycopg.Error as exc:
            first_row = writer.statement_first_row if writer is not None else 0
            raise _server_error(exc, unit, reader, copied, first_row) from exc
    return copied.rows, parsed


def _raise_bad_value(bad: Any, batch: SourceBatch, reader: SourceReader, file: SourceFile) -> None:
    record = int(batch.record_numbers()[bad.row])
    line = reader.line_numbers([record]).get(record)
    raise ParseError(
        f"{bad.reason}",
        hint="fix the value in the file, or change the column's type",
        path=file.path,
        line=line,
        column=bad.column,
        value=bad.value,
    )


def _server_error(
    exc: psycopg.Error, unit: Unit, reader: SourceReader, copied: _CopyRows, first_row: int
) -> LoadError:
    context = getattr(exc.diag, "context", None)
    copy_row = copy_row_of_error(context)
    line = None
    if copy_row is not None:
        record = copied.record_of(first_row + copy_row)
        if record is not None:
            line = reader.line_numbers([record]).get(record)
    return translate_db_error(exc, path=unit.file.path, line=line, table=str(unit.table.name))


def load_unit(unit: Unit, ctx: UnitContext) -> UnitResult:
    """Load one file; never raises for a problem with the file or the data (see the result)."""
    started = time.perf_counter()
    stage = "plan"
    ctx.reporter.unit_started(unit.file)
    try:
        reader = open_reader(unit.file, unit.source)
        plan = match_columns(reader.column_names(), unit.table, unit.source, unit.file)
        stage = "load"
        careful = False
        for _attempt in range(3):
            try:
                rows, parsed = _copy_unit(unit, plan, reader, ctx, careful=careful)
                break
            except SchemaDrift:
                plan = match_columns(
                    reader.column_names(complete=True), unit.table, unit.source, unit.file
                )
                careful = True
            except (_RetryCarefully, ParseError) as exc:
                if careful:
                    raise
                logger.debug("%s: reading again carefully: %s", unit.file.path, exc)
                careful = True
        else:  # pragma: no cover - the careful path either loads or raises
            raise ParseError("the file could not be read consistently", path=unit.file.path)
    except ColumnTypeError as exc:
        error: PgIngestError = ParseError(
            str(exc),
            path=unit.file.path,
            column=exc.column,
            hint="the file's type for this column cannot become the table's; change one of them",
        )
        return _failed(unit, ctx, error, "convert", started)
    except PgIngestError as exc:
        exc.with_context(path=unit.file.path)
        if stage == "load":
            stage = "copy" if isinstance(exc, LoadError) else "parse"
        return _failed(unit, ctx, exc, stage, started)
    except Exception as exc:  # a bug must fail this file, not the other files of the run
        logger.exception("internal error while loading %s", unit.file.path)
        internal = PgIngestError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="please report this with PGINGEST_LOG=debug output",
            path=unit.file.path,
        )
        return _failed(unit, ctx, internal, stage, started)
    ctx.metrics.add_table_rows(str(unit.table.name), rows)
    ctx.reporter.unit_finished(unit.file, rows=rows)
    return UnitResult(unit, rows=rows, parsed=parsed, started=started, finished=time.perf_counter())


def _failed(
    unit: Unit, ctx: UnitContext, error: PgIngestError, stage: str, started: float
) -> UnitResult:
    logger.info("failed: %s", error.describe())
    ctx.reporter.unit_failed(unit.file, error)
    return UnitResult(unit, error=error, stage=stage, started=started, finished=time.perf_counter())
