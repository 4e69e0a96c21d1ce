"""A file's batches on their way in: parse → convert → validate → encode → copy.

Fast mode sends the whole file through one COPY and asks for the careful mode
at the first bad value or refused row; careful mode copies batch by batch
under savepoints and sets bad records aside as rejects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from pgingest.convert import BadValue, convert_batch, rule_view
from pgingest.convert.arrow import dump_json
from pgingest.errors import LoadError, ParseError
from pgingest.load.connect import translate_db_error
from pgingest.load.copy import CopyWriter, copy_row_of_error
from pgingest.load.isolate import copy_isolating, is_row_error
from pgingest.load.server_input import ServerInput
from pgingest.parse import SchemaDrift, SourceBatch
from pgingest.pipeline.flow import CopyRows, Flow, RetryCarefullyError
from pgingest.report.metrics import Metrics
from pgingest.report.rejects import Reject
from pgingest.validate import RuleFinding

__all__ = ["copy_careful", "copy_fast", "rule_failure"]


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
    flow: Flow, batch: pa.RecordBatch, records: np.ndarray
) -> tuple[pa.RecordBatch, np.ndarray]:
    """Check the batch rules: reject (drop and set aside), fail (raise) or warn (count)."""
    if not flow.rules.batch_rules:
        return batch, records
    view = rule_view(batch, flow.plan.converted_targets)  # raw columns decoded
    with flow.ctx.metrics.stage("validate"):
        findings = flow.rules.check(view)
    drop = np.zeros(batch.num_rows, dtype=bool)
    for finding in findings:
        if finding.rule.action == "fail":
            raise rule_failure(flow, finding.description, int(records[finding.rows[0]]))
        if finding.rule.action == "warn":
            flow.attempt.warned += len(finding.rows)
            continue
        fresh = finding.rows[~drop[finding.rows]]
        drop[fresh] = True
        flow.attempt.rejects.extend(_rule_rejects(finding, view, records, fresh))
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


def rule_failure(flow: Flow, description: str, record: int) -> LoadError:
    place = flow.reader.locate([record]).get(record)
    return LoadError(
        f"{description} (the rule's action is fail)",
        hint='fix the file, or set the rule\'s "action" to "reject" or "warn"',
        path=flow.unit.file.path,
        line=place.line if place else None,
    )


def copy_fast(flow: Flow) -> None:
    """The whole file in one COPY; any data problem asks for the careful mode."""
    metrics = flow.ctx.metrics
    read_plan = flow.plan.read_plan(batch_rows=flow.ctx.batch_rows, careful=False)
    copied = CopyRows()
    writer: CopyWriter | None = None
    text_formats = ("csv", "tsv", "json", "ndjson")
    fast_context = replace(flow.ctx.convert, floats_from_text=flow.unit.file.format in text_formats)
    try:
        with (
            flow.conn.cursor() as cursor,
            CopyWriter(cursor, flow.destination, flow.columns, metrics=metrics) as writer,
        ):
            server = ServerInput(flow.conn, before=writer.end_statement)
            for batch in _timed_batches(iter(flow.reader.read(read_plan)), metrics):
                flow.attempt.parsed += batch.num_rows
                with metrics.stage("convert"):
                    converted = convert_batch(
                        batch.data,
                        flow.plan.converted_targets,
                        fast_context,
                        limit=0,
                        server=server,
                    )
                if converted.bad:
                    raise RetryCarefullyError(converted.bad[0].reason)
                records, _ = _kept(batch, converted.kept_rows)
                data, records = _apply_rules(flow, converted.batch, records)
                flow.check_limit()
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
    flow.attempt.skipped += writer.skipped if writer is not None else 0


def _server_error(exc: psycopg.Error, flow: Flow, copied: CopyRows, first_row: int) -> LoadError:
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


def _bad_value_rejects(bad: list[BadValue], batch: SourceBatch) -> list[Reject]:
    """One reject per record, however many of its values failed (the first one named)."""
    by_row: dict[int, list[BadValue]] = {}
    for value in bad:
        by_row.setdefault(value.row, []).append(value)
    numbers = batch.record_numbers()
    rejects = []
    for row, values in sorted(by_row.items()):
        first = values[0]
        error = first.reason
        if len(values) > 1:
            others = ", ".join(repr(v.column) for v in values[1:])
            error = f"{error}; also bad: {others}"
        rejects.append(
            Reject(record=int(numbers[row]), error=error, column=first.column, value=first.value)
        )
    return rejects


def copy_careful(flow: Flow) -> None:
    """Batch by batch under savepoints, setting bad records aside as rejects."""
    metrics = flow.ctx.metrics
    read_plan = flow.plan.read_plan(batch_rows=flow.ctx.batch_rows, careful=True)
    convert_context = replace(flow.ctx.convert, binary_is_text=True)
    attempt = flow.attempt
    server = ServerInput(flow.conn)
    for batch in _timed_batches(iter(flow.reader.read(read_plan)), metrics):
        attempt.parsed += batch.num_rows + len(batch.skipped)
        attempt.rejects.extend(
            Reject(record=s.record, error=s.reason, raw=s.text) for s in batch.skipped
        )
        with metrics.stage("convert"):
            converted = convert_batch(
                batch.data,
                flow.plan.converted_targets,
                convert_context,
                limit=flow.limit(),
                server=server,
            )
        attempt.rejects.extend(_bad_value_rejects(converted.bad, batch))
        flow.check_limit()
        records, kept_rows = _kept(batch, converted.kept_rows)
        data, records = _apply_rules(flow, converted.batch, records)
        isolated = copy_isolating(
            flow.conn,
            flow.destination,
            flow.columns,
            flow.outgoing(data, records),
            metrics=metrics,
            limit=flow.limit(),
        )
        refused = isolated.refused
        attempt.skipped += isolated.skipped
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
