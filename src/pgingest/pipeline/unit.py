"""One unit of work: a file parsed, converted, encoded and copied, atomically with its manifest row.

Stages, in order: parse → convert → encode → copy, then the rejects, the
manifest row and the commit, all in one transaction.

A unit first runs in *fast* mode: pyarrow types the values as it parses and
the whole file goes through one COPY. Anything wrong with the data — a value
that does not convert, a ragged row, a JSON key first seen late, a row the
server refuses — rolls that attempt back and the unit runs again in *careful*
mode: every value is read as text, bad values and refused rows are set aside
as rejects (with file, line, column, value and reason) and the good rows load,
each batch under a savepoint. Past ``max_rejects`` the file fails and nothing
of it remains. Transient failures (a lost connection, a deadlock, a flaky
read) retry the whole attempt under the retry policies.
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
from psycopg import sql
from psycopg_pool import ConnectionPool

from pgingest.config import Source
from pgingest.convert import BadValue, ColumnTypeError, ConvertContext, convert_batch
from pgingest.convert.arrow import dump_json
from pgingest.discover import SourceFile
from pgingest.errors import LoadError, ParseError, PgIngestError
from pgingest.load.catalog import Table
from pgingest.load.connect import translate_db_error
from pgingest.load.copy import CopyWriter, copy_row_of_error
from pgingest.load.isolate import copy_isolating, is_row_error
from pgingest.load.schema import MANIFEST_UNIQUE_INDEX
from pgingest.manifest import Decision, mark_replaced, record_loaded
from pgingest.match import UnitPlan, match_columns
from pgingest.parse import SchemaDrift, SourceBatch, SourceReader, open_reader
from pgingest.report.metrics import Metrics
from pgingest.report.rejects import Reject, write_rejects
from pgingest.report.reporter import NullReporter, Reporter
from pgingest.retry import Retrier

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
    retrier: Retrier = field(default_factory=Retrier)
    max_rejects: int | None = None
    reporter: Reporter = field(default_factory=NullReporter)


@dataclass(frozen=True)
class UnitResult:
    """How a unit ended."""

    unit: Unit
    rows: int = 0
    parsed: int = 0
    rejects: tuple[Reject, ...] = ()
    started: float = 0.0
    finished: float = 0.0
    error: PgIngestError | None = None
    stage: str | None = None
    skipped: bool = False  # another run loaded the file first

    @property
    def rejected(self) -> int:
        """Records set aside as rejects."""
        return len(self.rejects)

    @property
    def is_success(self) -> bool:
        """Whether the unit's rows landed."""
        return self.error is None and not self.skipped


class _RetryCarefully(Exception):  # noqa: N818 - control flow inside this module
    """The fast path met something only the careful path can pin down."""


class _LoadedElsewhere(Exception):  # noqa: N818 - control flow inside this module
    """Another run committed this very file first; this attempt rolled back."""


class _TooManyRejects(Exception):  # noqa: N818 - control flow inside this module
    """More rejects than max_rejects: the file fails, its rejects are kept for the user."""

    def __init__(self, rejects: list[Reject], limit: int) -> None:
        super().__init__(f"{len(rejects)} rejects")
        self.rejects = rejects
        self.limit = limit


@dataclass
class _Progress:
    """What one attempt has done so far."""

    copied: int = 0
    parsed: int = 0
    rejects: list[Reject] = field(default_factory=list)


class _CopyRows:
    """Which file record each row of the COPY came from, to name the line of a server error."""

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


def _kept_records(batch: SourceBatch, kept_rows: Any) -> np.ndarray:
    records = batch.record_numbers()
    return records if kept_rows is None else records[kept_rows.to_numpy()]


# --- fast mode -----------------------------------------------------------------------


def _copy_fast(
    unit: Unit,
    plan: UnitPlan,
    reader: SourceReader,
    ctx: UnitContext,
    conn: psycopg.Connection[Any],
) -> _Progress:
    """The whole file in one COPY; any data problem asks for the careful mode."""
    metrics = ctx.metrics
    read_plan = plan.read_plan(batch_rows=ctx.batch_rows, careful=False)
    progress = _Progress()
    copied = _CopyRows()
    writer: CopyWriter | None = None
    try:
        with (
            conn.cursor() as cursor,
            CopyWriter(cursor, unit.table.name, plan.targets, metrics=metrics) as writer,
        ):
            for batch in _timed_batches(iter(reader.read(read_plan)), metrics):
                progress.parsed += batch.num_rows
                with metrics.stage("convert"):
                    converted = convert_batch(
                        batch.data, plan.converted_targets, ctx.convert, limit=0
                    )
                if converted.bad:
                    raise _RetryCarefully(converted.bad[0].reason)
                writer.write(plan.with_lineage(converted.batch))
                copied.add(_kept_records(batch, converted.kept_rows))
                ctx.reporter.rows_loaded(unit.file, rows=converted.batch.num_rows, fraction=0.0)
    except (ParseError, SchemaDrift) as exc:
        raise _RetryCarefully(str(exc)) from exc
    except psycopg.Error as exc:
        if is_row_error(exc):
            raise _RetryCarefully(str(exc)) from exc
        first_row = writer.statement_first_row if writer is not None else 0
        raise _server_error(exc, unit, reader, copied, first_row) from exc
    progress.copied = copied.rows
    return progress


def _server_error(
    exc: psycopg.Error, unit: Unit, reader: SourceReader, copied: _CopyRows, first_row: int
) -> LoadError:
    copy_row = copy_row_of_error(getattr(exc.diag, "context", None))
    line = None
    if copy_row is not None:
        record = copied.record_of(first_row + copy_row)
        if record is not None:
            line = reader.locate([record]).get(record, None)
    return translate_db_error(
        exc, path=unit.file.path, line=line.line if line else None, table=str(unit.table.name)
    )


# --- careful mode ----------------------------------------------------------------------


def _bad_value_reject(bad: BadValue, batch: SourceBatch) -> Reject:
    record = int(batch.record_numbers()[bad.row])
    return Reject(record=record, error=bad.reason, column=bad.column, value=bad.value)


def _row_json(batch: Any, row: int) -> str:
    return dump_json(batch.slice(row, 1).to_pylist()[0])


def _check_limit(rejects: list[Reject], ctx: UnitContext) -> None:
    if ctx.max_rejects is not None and len(rejects) > ctx.max_rejects:
        raise _TooManyRejects(rejects, ctx.max_rejects)


def _copy_careful(
    unit: Unit,
    plan: UnitPlan,
    reader: SourceReader,
    ctx: UnitContext,
    conn: psycopg.Connection[Any],
) -> _Progress:
    """Batch by batch under savepoints, setting bad records aside as rejects."""
    metrics = ctx.metrics
    read_plan = plan.read_plan(batch_rows=ctx.batch_rows, careful=True)
    convert_context = replace(ctx.convert, binary_is_text=True)
    progress = _Progress()
    limit = None if ctx.max_rejects is None else ctx.max_rejects + 1
    for batch in _timed_batches(iter(reader.read(read_plan)), metrics):
        progress.parsed += batch.num_rows + len(batch.skipped)
        progress.rejects.extend(
            Reject(record=s.record, error=s.reason, raw=s.text) for s in batch.skipped
        )
        with metrics.stage("convert"):
            converted = convert_batch(
                batch.data, plan.converted_targets, convert_context, limit=limit
            )
        progress.rejects.extend(_bad_value_reject(bad, batch) for bad in converted.bad)
        _check_limit(progress.rejects, ctx)
        records = _kept_records(batch, converted.kept_rows)
        refused = copy_isolating(
            conn,
            unit.table.name,
            plan.targets,
            plan.with_lineage(converted.batch),
            metrics=metrics,
            limit=limit,
        )
        for refusal in refused:
            progress.rejects.append(
                Reject(
                    record=int(records[refusal.row]),
                    error=refusal.message,
                    column=refusal.column,
                    sqlstate=refusal.sqlstate,
                    raw=_row_json(batch.data, _source_row(converted.kept_rows, refusal.row))
                    if unit.file.format == "parquet"
                    else None,
                )
            )
        _check_limit(progress.rejects, ctx)
        loaded = converted.batch.num_rows - len(refused)
        progress.copied += loaded
        ctx.reporter.rows_loaded(unit.file, rows=loaded, fraction=0.0)
    return progress


def _source_row(kept_rows: Any, row: int) -> int:
    return row if kept_rows is None else int(kept_rows[row].as_py())


def _locate(rejects: list[Reject], reader: SourceReader) -> list[Reject]:
    if not rejects:
        return rejects
    places = reader.locate(r.record for r in rejects)
    located = []
    for reject in rejects:
        place = places.get(reject.record)
        located.append(
            reject.located(place.line, place.raw) if place else reject.located(None, None)
        )
    return sorted(located, key=lambda r: r.record)


# --- the unit -------------------------------------------------------------------------


def _attempt(
    unit: Unit, plan: UnitPlan, reader: SourceReader, ctx: UnitContext, *, careful: bool
) -> _Progress:
    """One transaction: the rows, the rejects and the manifest row, or none of them."""
    with ctx.pool.connection() as conn:
        try:
            with conn.transaction():
                if unit.decision.action == "changed":
                    _forget_earlier_load(conn, unit, plan)
                if careful:
                    progress = _copy_careful(unit, plan, reader, ctx, conn)
                else:
                    progress = _copy_fast(unit, plan, reader, ctx, conn)
                progress.rejects = _locate(progress.rejects, reader)
                start = ctx.metrics.now()
                write_rejects(
                    conn,
                    run_id=ctx.run_id,
                    table_name=str(unit.table.name),
                    source=unit.file.path,
                    rejects=progress.rejects,
                )
                record_loaded(
                    conn,
                    decision=unit.decision,
                    table_name=str(unit.table.name),
                    rows=progress.copied,
                    rejected=len(progress.rejects),
                    run_id=ctx.run_id,
                )
            ctx.metrics.record_stage("copy", start, ctx.metrics.now())
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == MANIFEST_UNIQUE_INDEX:
                raise _LoadedElsewhere from exc
            raise translate_db_error(exc, path=unit.file.path, table=str(unit.table.name)) from exc
        except psycopg.Error as exc:
            raise translate_db_error(exc, path=unit.file.path, table=str(unit.table.name)) from exc
    return progress


def _forget_earlier_load(conn: psycopg.Connection[Any], unit: Unit, plan: UnitPlan) -> None:
    """on_change: reload — the file's earlier rows go, in the transaction that loads it again."""
    if plan.lineage is not None:
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                unit.table.name.identifier, sql.Identifier(plan.lineage.name)
            ),
            (unit.file.path,),
        ).rowcount
        logger.info("%s changed: removed its %d earlier rows", unit.file.path, deleted)
    mark_replaced(conn, table_name=str(unit.table.name), path=unit.file.path)


def _load(unit: Unit, ctx: UnitContext, reader: SourceReader) -> _Progress:
    plan = match_columns(reader.column_names(), unit.table, unit.source, unit.file)
    careful = False
    while True:
        try:
            return ctx.retrier.call(
                lambda: _attempt(unit, plan, reader, ctx, careful=careful),  # noqa: B023
                what=unit.file.path,
            )
        except _RetryCarefully as exc:
            if careful:  # pragma: no cover - the careful path never asks for itself
                raise ParseError(str(exc), path=unit.file.path) from exc
            logger.info("%s: reading again carefully: %s", unit.file.path, exc)
            careful = True
        except SchemaDrift:
            plan = match_columns(
                reader.column_names(complete=True), unit.table, unit.source, unit.file
            )
            careful = True


def load_unit(unit: Unit, ctx: UnitContext) -> UnitResult:
    """Load one file; never raises for a problem with the file or the data (see the result)."""
    started = time.perf_counter()
    ctx.reporter.unit_started(unit.file)
    stage = "plan"
    try:
        reader = open_reader(unit.file, unit.source)
        reader.column_names()
        stage = "load"
        progress = _load(unit, ctx, reader)
    except _LoadedElsewhere:
        logger.info("%s was loaded by another run meanwhile; skipped", unit.file.path)
        ctx.reporter.file_skipped(unit.file, "loaded by another run")
        return UnitResult(unit, skipped=True, started=started, finished=time.perf_counter())
    except _TooManyRejects as exc:
        located = _locate(exc.rejects, reader)
        too_many = LoadError(
            f"{len(located)} records rejected, more than max_rejects ({exc.limit}); "
            f"first: line {located[0].line}: {located[0].error}",
            hint="see pgingest.rejects for this file, fix the records, or raise max_rejects",
            path=unit.file.path,
            table=str(unit.table.name),
        )
        return _failed(
            unit, ctx, too_many, stage="validate", started=started, rejects=tuple(located)
        )
    except ColumnTypeError as exc:
        error: PgIngestError = ParseError(
            str(exc),
            path=unit.file.path,
            column=exc.column,
            hint="the file's type for this column cannot become the table's; change one of them",
        )
        return _failed(unit, ctx, error, stage="convert", started=started)
    except PgIngestError as exc:
        exc.with_context(path=unit.file.path)
        if stage == "load":
            stage = "copy" if isinstance(exc, LoadError) else "parse"
        return _failed(unit, ctx, exc, stage=stage, started=started)
    except Exception as exc:  # a bug must fail this file, not the other files of the run
        logger.exception("internal error while loading %s", unit.file.path)
        internal = PgIngestError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="please report this with PGINGEST_LOG=debug output",
            path=unit.file.path,
        )
        return _failed(unit, ctx, internal, stage=stage, started=started)
    ctx.metrics.add_table_rows(str(unit.table.name), progress.copied)
    ctx.reporter.unit_finished(unit.file, rows=progress.copied)
    return UnitResult(
        unit,
        rows=progress.copied,
        parsed=progress.parsed,
        rejects=tuple(progress.rejects),
        started=started,
        finished=time.perf_counter(),
    )


def _failed(
    unit: Unit,
    ctx: UnitContext,
    error: PgIngestError,
    *,
    stage: str,
    started: float,
    rejects: tuple[Reject, ...] = (),
) -> UnitResult:
    logger.info("failed: %s", error.describe())
    ctx.reporter.unit_failed(unit.file, error)
    return UnitResult(
        unit,
        rejects=rejects,
        error=error,
        stage=stage,
        started=started,
        finished=time.perf_counter(),
    )
