"""One attempt at a unit: a single transaction holding its rows, rejects and manifest row.

Per batch: parse → convert → validate (rules) → encode → copy, into the target
directly (append) or into a staging table that is then merged (upsert, or
append with ``sql`` rules). Fast mode sends the whole file through one COPY
and asks for the careful mode at the first bad value or refused row; careful
mode copies batch by batch under savepoints and sets bad records aside.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg_pool import ConnectionPool

from pgingest.config import Source
from pgingest.convert import BadValue, ConvertContext, convert_batch
from pgingest.convert.arrow import dump_json
from pgingest.discover import SourceFile
from pgingest.errors import LoadError, ParseError, PgIngestError
from pgingest.load.catalog import Table
from pgingest.load.connect import translate_db_error
from pgingest.load.copy import CopyWriter, copy_row_of_error
from pgingest.load.isolate import copy_isolating, is_row_error
from pgingest.load.merge import Stage, create_stage, require_unique_key, stage_columns
from pgingest.load.schema import MANIFEST_UNIQUE_INDEX
from pgingest.manifest import Decision, mark_replaced, record_loaded
from pgingest.match import UnitPlan
from pgingest.parse import SchemaDrift, SourceBatch, SourceReader
from pgingest.report.metrics import Metrics
from pgingest.report.rejects import Reject, write_rejects
from pgingest.report.reporter import NullReporter, Reporter
from pgingest.retry import Retrier
from pgingest.types import TargetColumn
from pgingest.validate import RuleChecker, RuleFinding, describe_rule

__all__ = [
    "Attempt",
    "LoadedElsewhereError",
    "RetryCarefullyError",
    "TooManyRejectsError",
    "Unit",
    "UnitContext",
    "run_attempt",
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


@dataclass
class Attempt:
    """What one attempt did: the figures that must reconcile, and the rejects."""

    parsed: int = 0
    copied: int = 0  # rows sent to the target or the stage
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    warned: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        """Records the attempt can say what became of."""
        return self.inserted + self.updated + self.duplicates + len(self.rejects)


class _CopyRows:
    """Which file record each row of a COPY came from, to name the line of a server error."""

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


@dataclass
class _Flow:
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


def _kept(batch: SourceBatch, kept_rows: Any) -> tuple[np.ndarray, Any]:
    records = batch.record_numbers()
    return (records, None) if kept_rows is None else (records[kept_rows.to_numpy()], kept_rows)


def _apply_rules(
    flow: _Flow, batch: pa.RecordBatch, records: np.ndarray
) -> tuple[pa.RecordBatch, np.ndarray]:
    """Check the batch rules: reject (drop and set aside), fail (raise) or warn (count)."""
    if not flow.rules.batch_rules:
        return batch, records
    with flow.ctx.metrics.stage("validate"):
        findings = flow.rules.check(batch)
    drop = np.zeros(batch.num_rows, dtype=bool)
    for finding in findings:
        if finding.rule.action == "fail":
            raise _rule_failure(flow, finding.description, int(records[finding.rows[0]]))
        if finding.rule.action == "warn":
            flow.attempt.warned += len(finding.rows)
            continue
        fresh = finding.rows[~drop[finding.rows]]
        drop[fresh] = True
        flow.attempt.rejects.extend(_rule_rejects(finding, batch, records, fresh))
    if not drop.any():
        return batch, records
    keep = np.flatnonzero(~drop)
    return batch.take(pa.array(keep)), records[keep]


def _rule_rejects(
    finding: RuleFinding, batch: pa.RecordBatch, records: np.ndarray, rows: np.ndarray
) -> list[Reject]:
    column = finding.rule.column
    values = batch.column(column).take(pa.array(rows)).to_pylist() if column else []
    return [
        Reject(
            record=int(records[row]),
            error=finding.description,
            column=column,
            value=None if not column or values[i] is None else str(values[i]),
        )
        for i, row in enumerate(rows)
    ]


def _rule_failure(flow: _Flow, description: str, record: int) -> LoadError:
    place = flow.reader.locate([record]).get(record)
    return LoadError(
        f"{description} (the rule's action is fail)",
        hint='fix the file, or set the rule\'s "action" to "reject" or "warn"',
        path=flow.unit.file.path,
        line=place.line if place else None,
    )


def _copy_fast(flow: _Flow) -> None:
    """The whole file in one COPY; any data problem asks for the careful mode."""
    metrics = flow.ctx.metrics
    read_plan = flow.plan.read_plan(batch_rows=flow.ctx.batch_rows, careful=False)
    copied = _CopyRows()
    writer: CopyWriter | None = None
    try:
        with (
            flow.conn.cursor() as cursor,
            CopyWriter(cursor, flow.destination, flow.columns, metrics=metrics) as writer,
        ):
            for batch in _timed_batches(iter(flow.reader.read(read_plan)), metrics):
                flow.attempt.parsed += batch.num_rows
                with metrics.stage("convert"):
                    converted = convert_batch(
                        batch.data, flow.plan.converted_targets, flow.ctx.convert, limit=0
                    )
                if converted.bad:
                    raise RetryCarefullyError(converted.bad[0].reason)
                records, _ = _kept(batch, converted.kept_rows)
                data, records = _apply_rules(flow, converted.batch, records)
                writer.write(flow.outgoing(data, records))
                copied.add(records)
                flow.ctx.reporter.rows_loaded(flow.unit.file, rows=data.num_rows, fraction=0.0)
    except (ParseError, SchemaDrift) as exc:
        raise RetryCarefullyError(str(exc)) from exc
    except psycopg.Error as exc:
        if is_row_error(exc):
            raise RetryCarefullyError(str(exc)) from exc
        first_row = writer.statement_first_row if writer is not None else 0
        raise _server_error(exc, flow, copied, first_row) from exc
    flow.attempt.copied = copied.rows


def _server_error(exc: psycopg.Error, flow: _Flow, copied: _CopyRows, first_row: int) -> LoadError:
    copy_row = copy_row_of_error(getattr(exc.diag, "context", None))
    line = None
    if copy_row is not None:
        record = copied.record_of(first_row + copy_row)
        if record is not None:
            place = flow.reader.locate([record]).get(record)
            line = place.line if place else None
    return translate_db_error(
        exc, path=flow.unit.file.path, line=line, table=str(flow.unit.table.name)
    )


def _bad_value_reject(bad: BadValue, batch: SourceBatch) -> Reject:
    record = int(batch.record_numbers()[bad.row])
    return Reject(record=record, error=bad.reason, column=bad.column, value=bad.value)


def _copy_careful(flow: _Flow) -> None:
    """Batch by batch under savepoints, setting bad records aside as rejects."""
    metrics = flow.ctx.metrics
    read_plan = flow.plan.read_plan(batch_rows=flow.ctx.batch_rows, careful=True)
    convert_context = replace(flow.ctx.convert, binary_is_text=True)
    attempt = flow.attempt
    for batch in _timed_batches(iter(flow.reader.read(read_plan)), metrics):
        attempt.parsed += batch.num_rows + len(batch.skipped)
        attempt.rejects.extend(
            Reject(record=s.record, error=s.reason, raw=s.text) for s in batch.skipped
        )
        with metrics.stage("convert"):
            converted = convert_batch(
                batch.data, flow.plan.converted_targets, convert_context, limit=flow.limit()
            )
        attempt.rejects.extend(_bad_value_reject(bad, batch) for bad in converted.bad)
        flow.check_limit()
        records, kept_rows = _kept(batch, converted.kept_rows)
        data, records = _apply_rules(flow, converted.batch, records)
        refused = copy_isolating(
            flow.conn,
            flow.destination,
            flow.columns,
            flow.outgoing(data, records),
            metrics=metrics,
            limit=flow.limit(),
        )
        for refusal in refused:
            raw = (
                _row_json(batch.data, records[refusal.row], batch)
                if flow.unit.file.format == "parquet"
                else None
            )
            attempt.rejects.append(
                Reject(
                    record=int(records[refusal.row]),
                    error=refusal.message,
                    column=refusal.column,
                    sqlstate=refusal.sqlstate,
                    raw=raw,
                )
            )
        flow.check_limit()
        attempt.copied += data.num_rows - len(refused)
        flow.ctx.reporter.rows_loaded(
            flow.unit.file, rows=data.num_rows - len(refused), fraction=0.0
        )
        del kept_rows


def _row_json(data: pa.RecordBatch, record: int, batch: SourceBatch) -> str:
    rows = np.flatnonzero(batch.record_numbers() == record)
    return dump_json(data.slice(int(rows[0]), 1).to_pylist()[0]) if len(rows) else ""


def _check_sql_rules(flow: _Flow) -> None:
    """sql rules on the staged rows: reject (discard), fail (raise) or warn (count)."""
    assert flow.stage is not None
    for rule in flow.rules.rules:
        if rule.sql is None:
            continue
        with flow.ctx.metrics.stage("validate"):
            try:
                broken = flow.stage.check_sql_rule(rule.sql)
            except psycopg.Error as exc:
                raise LoadError(
                    f"validate rule {rule.sql!r} is not valid SQL here: "
                    f"{(exc.diag.message_primary or str(exc)).strip()}",
                    hint="a rule's sql is a boolean expression over the file's "
                    "columns, like a CHECK constraint",
                ) from exc
        if not broken:
            continue
        description = f"rule failed: {describe_rule(rule)}"
        if rule.action == "fail":
            raise _rule_failure(flow, description, broken[0])
        if rule.action == "warn":
            flow.attempt.warned += len(broken)
            continue
        flow.stage.discard(broken)
        flow.attempt.rejects.extend(Reject(record=r, error=description) for r in broken)
        flow.check_limit()


def _merge(flow: _Flow) -> None:
    assert flow.stage is not None
    _check_sql_rules(flow)
    key = flow.unit.source.key if flow.unit.source.mode == "upsert" else None
    with flow.ctx.metrics.stage("merge"):
        counts = flow.stage.merge(key=key, limit=flow.limit())
    flow.attempt.inserted += counts.inserted
    flow.attempt.updated += counts.updated
    flow.attempt.duplicates += counts.duplicates
    flow.attempt.rejects.extend(
        Reject(record=r.row, error=r.message, column=r.column, sqlstate=r.sqlstate)
        for r in counts.refused
    )
    flow.check_limit()


def _needs_stage(unit: Unit) -> bool:
    return unit.source.mode == "upsert" or any(r.sql for r in unit.source.rules)


def _forget_earlier_load(conn: psycopg.Connection[Any], unit: Unit, plan: UnitPlan) -> None:
    """on_change: reload — the file's earlier rows go, in the transaction that loads it again."""
    if plan.lineage is not None:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                unit.table.name.identifier, sql.Identifier(plan.lineage.name)
            ),
            (unit.file.path,),
        )
    mark_replaced(conn, table_name=str(unit.table.name), path=unit.file.path)


def _check_counts(flow: _Flow) -> None:
    source, attempt = flow.unit.source, flow.attempt
    if source.min_rows is not None and attempt.parsed < source.min_rows:
        raise LoadError(
            f"the file has {attempt.parsed} records, fewer than min_rows ({source.min_rows})",
            path=flow.unit.file.path,
        )
    if source.max_rows is not None and attempt.parsed > source.max_rows:
        raise LoadError(
            f"the file has {attempt.parsed} records, more than max_rows ({source.max_rows})",
            path=flow.unit.file.path,
        )
    if attempt.accounted != attempt.parsed:
        raise LoadError(
            f"reconciliation failed: {attempt.parsed} records parsed but {attempt.inserted} "
            f"inserted + {attempt.updated} updated + {attempt.duplicates} merged duplicates + "
            f"{len(attempt.rejects)} rejected = {attempt.accounted}",
            hint="this is a bug in pgingest; please report it",
            path=flow.unit.file.path,
        )


def locate_rejects(rejects: list[Reject], reader: SourceReader) -> list[Reject]:
    """Rejects with their line and raw text, in file order."""
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


def _fill(flow: _Flow) -> None:
    """Every row of the file into the target (or the stage, then merged)."""
    if flow.careful:
        _copy_careful(flow)
    else:
        _copy_fast(flow)
    if flow.stage is not None:
        _merge(flow)
    else:
        flow.attempt.inserted = flow.attempt.copied


def run_attempt(
    unit: Unit,
    plan: UnitPlan,
    reader: SourceReader,
    ctx: UnitContext,
    *,
    careful: bool,
    conn: psycopg.Connection[Any] | None = None,
) -> Attempt:
    """One transaction: the rows, the rejects and the manifest row, or none of them.

    With ``conn``, the attempt runs inside the caller's transaction (a replace
    that loads several files at once) under a savepoint.
    """
    if conn is not None:
        return _run_on(conn, unit, plan, reader, ctx, careful=careful)
    with ctx.pool.connection() as pooled:
        return _run_on(pooled, unit, plan, reader, ctx, careful=careful)


def _run_on(
    conn: psycopg.Connection[Any],
    unit: Unit,
    plan: UnitPlan,
    reader: SourceReader,
    ctx: UnitContext,
    *,
    careful: bool,
) -> Attempt:
    table = str(unit.table.name)
    try:
        with conn.transaction():
            stage = None
            if _needs_stage(unit):
                if unit.source.mode == "upsert":
                    require_unique_key(conn, unit.table.name, unit.source.key or [])
                stage = create_stage(conn, unit.table.name, [t.name for t in plan.targets])
            if unit.decision.action == "changed":
                _forget_earlier_load(conn, unit, plan)
            flow = _Flow(
                unit, plan, reader, ctx, conn, careful, stage, RuleChecker(unit.source.rules)
            )
            _fill(flow)
            _check_counts(flow)
            attempt = flow.attempt
            attempt.rejects = locate_rejects(attempt.rejects, reader)
            start = ctx.metrics.now()
            write_rejects(
                conn,
                run_id=ctx.run_id,
                table_name=table,
                source=unit.file.path,
                rejects=attempt.rejects,
            )
            record_loaded(
                conn,
                decision=unit.decision,
                table_name=table,
                rows=attempt.inserted + attempt.updated,
                rejected=len(attempt.rejects),
                run_id=ctx.run_id,
            )
        ctx.metrics.record_stage("copy", start, ctx.metrics.now())
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == MANIFEST_UNIQUE_INDEX:
            raise LoadedElsewhereError from exc
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc
    except psycopg.Error as exc:
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc
    except PgIngestError as exc:
        raise exc.with_context(path=unit.file.path) from None
    return attempt
