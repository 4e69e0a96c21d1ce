"""A file's batches on their way in: parse → convert → rules → write, in that one order.

How a batch is written, and what becomes of a bad value, is the mode's
strategy. *Fast* sends the whole file through one COPY and asks for the
careful mode at the first bad value or refused row. *Careful* copies batch by
batch under savepoints and sets bad records aside as rejects.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Protocol

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert import BadValue, ConvertContext, convert_batch, rule_view
from pgingest.convert.arrow import dump_json
from pgingest.errors import LoadError, ParseError
from pgingest.load.connect import translate_db_error
from pgingest.load.copy import CopyWriter, copy_row_of_error
from pgingest.load.isolate import copy_isolating, is_row_error
from pgingest.load.server_input import ServerInput
from pgingest.parse import SchemaDrift, SourceBatch
from pgingest.pipeline.unit.attempt import Attempt
from pgingest.pipeline.unit.model import RetryCarefullyError
from pgingest.pipeline.unit.rescue import rescued_column
from pgingest.report.metrics import Metrics
from pgingest.store.rejects import Reject
from pgingest.validate import RuleFinding

__all__ = ["CopyRows", "copy_rows", "fast_convert_context", "parsed_batches"]

# Formats whose numbers arrive as text: the fast path parses their floats itself.
TEXT_FORMATS = ("csv", "tsv", "json", "ndjson")


class _Strategy(Protocol):
    """How one mode converts and writes a batch."""

    convert_context: ConvertContext
    bad_limit: int | None  # bad values to look for before convert_batch stops
    server: ServerInput
    nulled: frozenset[str]  # columns whose bad values are rescued (NULL), not set aside

    def set_aside(self, bad: list[BadValue], batch: SourceBatch) -> None:
        """What becomes of the values that did not convert."""
        ...

    def write(self, batch: SourceBatch, data: pa.RecordBatch, records: np.ndarray) -> int:
        """Write the checked rows; returns how many were copied."""
        ...


def copy_rows(attempt: Attempt) -> None:
    """Every row of the file into the destination, batch by batch, as the mode says."""
    opened = _careful_copy(attempt) if attempt.is_careful else _fast_copy(attempt)
    with opened as strategy:
        for batch in parsed_batches(attempt):
            data, records = _checked(attempt, strategy, batch)
            copied = strategy.write(batch, data, records)
            attempt.tally.copied += copied
            attempt.context.reporter.rows_loaded(attempt.unit.file, rows=copied, fraction=0.0)


def parsed_batches(attempt: Attempt) -> Iterator[SourceBatch]:
    """The file's batches as its reader parses them (timed), each counted in the tally.

    The records the reader skipped are the attempt's rejects from here on.
    """
    read_plan = attempt.plan.read_plan(
        batch_rows=attempt.context.batch_rows, careful=attempt.is_careful
    )
    tally = attempt.tally
    for batch in _timed_batches(iter(attempt.reader.read(read_plan)), attempt.context.metrics):
        tally.parsed += batch.num_rows + len(batch.skipped)
        tally.rejects.extend(
            Reject(record=s.record, error=s.reason, raw=s.text) for s in batch.skipped
        )
        yield batch


def fast_convert_context(attempt: Attempt) -> ConvertContext:
    """The fast mode's conversion: floats of text formats are parsed by pgingest, not the reader."""
    file_format = attempt.unit.file.format
    return replace(attempt.context.convert, floats_from_text=file_format in TEXT_FORMATS)


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


def _checked(
    attempt: Attempt, strategy: _Strategy, batch: SourceBatch
) -> tuple[pa.RecordBatch, np.ndarray]:
    """The batch parsed, converted and through the rules, with each row's record number."""
    tally = attempt.tally
    with attempt.context.metrics.stage("convert"):
        converted = convert_batch(
            batch.data,
            attempt.plan.converted_targets,
            strategy.convert_context,
            limit=strategy.bad_limit,
            server=strategy.server,
            nulled=strategy.nulled,
        )
    rescued = [b for b in converted.bad if b.column in strategy.nulled]
    strategy.set_aside([b for b in converted.bad if b.column not in strategy.nulled], batch)
    attempt.check_limit()
    records = batch.record_numbers()
    data = converted.batch
    if attempt.plan.rescued is not None:
        column = rescued_column(attempt.plan, batch.data, rescued, strategy.convert_context)
        if converted.kept_rows is not None:
            column = column.take(converted.kept_rows)
        data = data.append_column(attempt.plan.rescued.name, column)
    if converted.kept_rows is not None:
        records = records[converted.kept_rows.to_numpy()]
    data, records = _apply_rules(attempt, data, records)
    tally.rescued += int(_rescued_rows(attempt, data).sum())
    attempt.check_limit()
    return data, records


def _rescued_rows(attempt: Attempt, data: pa.RecordBatch) -> np.ndarray:
    """Which rows of a checked batch carry a rescued value."""
    if attempt.plan.rescued is None:
        return np.zeros(data.num_rows, dtype=bool)
    column = data.column(attempt.plan.rescued.name)
    return np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)


def _apply_rules(
    attempt: Attempt, batch: pa.RecordBatch, records: np.ndarray
) -> tuple[pa.RecordBatch, np.ndarray]:
    """Check the batch rules: reject (drop and set aside), fail (raise) or warn (count)."""
    if not attempt.rules.batch_rules:
        return batch, records
    view = rule_view(batch, attempt.plan.converted_targets)  # raw columns decoded
    with attempt.context.metrics.stage("validate"):
        findings = attempt.rules.check(view)
    drop = np.zeros(batch.num_rows, dtype=bool)
    for finding in findings:
        if finding.rule.action == "fail":
            raise attempt.rule_failure(finding.description, int(records[finding.rows[0]]))
        if finding.rule.action == "warn":
            attempt.tally.warned += len(finding.rows)
            continue
        fresh = finding.rows[~drop[finding.rows]]
        drop[fresh] = True
        attempt.tally.rejects.extend(_rule_rejects(finding, view, records, fresh))
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


# --- fast: one COPY for the whole file -----------------------------------------------------


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
        """The records of the rows just copied, in COPY order."""
        breaks = np.flatnonzero(np.diff(records) != 1) + 1
        for offset in [0, *breaks.tolist()] if len(records) else []:
            row, record = self.rows + offset, int(records[offset])
            if self._starts and record - self._firsts[-1] == row - self._starts[-1]:
                continue  # continues the last run
            self._starts.append(row)
            self._firsts.append(record)
        self.rows += len(records)

    def record_of(self, copy_row: int) -> int | None:
        """The record of a COPY row, or None past the rows copied."""
        index = bisect.bisect_right(self._starts, copy_row) - 1
        if index < 0 or copy_row >= self.rows:
            return None
        return self._firsts[index] + copy_row - self._starts[index]


class _FastCopy:
    """Writes into the file's one COPY; a bad value asks for the careful mode."""

    def __init__(self, attempt: Attempt, writer: CopyWriter, copied: CopyRows) -> None:
        self.bad_limit: int | None = 0  # the first bad value sends the file to careful mode
        self.convert_context = fast_convert_context(attempt)
        self.server = ServerInput(attempt.conn, before=writer.end_statement)
        self.nulled: frozenset[str] = frozenset()  # a bad value sends the file to careful mode
        self._attempt, self._writer, self._copied = attempt, writer, copied

    def set_aside(self, bad: list[BadValue], batch: SourceBatch) -> None:
        if bad:
            raise RetryCarefullyError(bad[0].reason)

    def write(self, batch: SourceBatch, data: pa.RecordBatch, records: np.ndarray) -> int:
        self._writer.write(self._attempt.outgoing(data, records))
        self._copied.add(records)
        return int(data.num_rows)


@contextmanager
def _fast_copy(attempt: Attempt) -> Iterator[_Strategy]:
    """The fast strategy over one COPY; a data problem becomes RetryCarefullyError.

    With a shared writer (a group's COPY) errors go up as they are: the group
    rolls back and its files load again one by one, each on this path.
    """
    copied = CopyRows()
    if attempt.shared_writer is not None:
        yield _FastCopy(attempt, attempt.shared_writer, copied)
        return
    writer: CopyWriter | None = None
    metrics = attempt.context.metrics
    try:
        with (
            attempt.conn.cursor() as cursor,
            CopyWriter(cursor, attempt.destination, attempt.columns, metrics=metrics) as writer,
        ):
            yield _FastCopy(attempt, writer, copied)
    except (ParseError, SchemaDrift) as exc:
        raise RetryCarefullyError(str(exc)) from exc
    except psycopg.Error as exc:
        if is_row_error(exc):
            raise RetryCarefullyError(str(exc)) from exc
        first_row = writer.statement_first_row if writer is not None else 0
        raise _server_error(exc, attempt, copied, first_row) from exc
    attempt.tally.skipped += writer.skipped


def _server_error(
    exc: psycopg.Error, attempt: Attempt, copied: CopyRows, first_row: int
) -> LoadError:
    copy_row = copy_row_of_error(getattr(exc.diag, "context", None))
    line = None
    if copy_row is not None:
        record = copied.record_of(first_row + copy_row)
        if record is not None:
            place = attempt.reader.locate([record]).get(record)
            line = place.line if place else None
    return translate_db_error(
        exc, path=attempt.unit.file.path, line=line, table=str(attempt.unit.table.name)
    )


# --- careful: batch by batch, bad records set aside ----------------------------------------


class _CarefulCopy:
    """Copies each batch under savepoints, setting refused rows aside as rejects."""

    def __init__(self, attempt: Attempt) -> None:
        self.convert_context = replace(attempt.context.convert, binary_is_text=True)
        self.bad_limit = attempt.limit()
        self.server = ServerInput(attempt.conn)
        # With a rescued column, a bad value in a column that may be NULL is rescued
        # (all of them are looked for); one in a NOT NULL column still rejects its row.
        self.nulled = _rescuable_columns(attempt)
        if self.nulled:
            self.bad_limit = None
        self._attempt = attempt

    def set_aside(self, bad: list[BadValue], batch: SourceBatch) -> None:
        self._attempt.tally.rejects.extend(_bad_value_rejects(bad, batch))

    def write(self, batch: SourceBatch, data: pa.RecordBatch, records: np.ndarray) -> int:
        attempt, tally = self._attempt, self._attempt.tally
        isolated = copy_isolating(
            attempt.conn,
            attempt.destination,
            attempt.columns,
            attempt.outgoing(data, records),
            metrics=attempt.context.metrics,
            limit=attempt.limit(),
        )
        tally.skipped += isolated.skipped
        rescued = _rescued_rows(attempt, data)
        tally.rescued -= int(rescued[[r.row for r in isolated.refused]].sum())
        is_parquet = attempt.unit.file.format == "parquet"
        for refusal in isolated.refused:
            record = int(records[refusal.row])
            tally.rejects.append(
                Reject(
                    record=record,
                    error=refusal.message,
                    column=refusal.column,
                    sqlstate=refusal.sqlstate,
                    raw=_row_json(batch, record) if is_parquet else None,
                )
            )
        attempt.check_limit()
        return int(data.num_rows) - len(isolated.refused)


def _rescuable_columns(attempt: Attempt) -> frozenset[str]:
    """The columns whose bad values go to the rescued column: those that may be NULL."""
    plan = attempt.plan
    if plan.rescued is None:
        return frozenset()
    return frozenset(c.name for c in plan.converted_targets if not c.not_null)


@contextmanager
def _careful_copy(attempt: Attempt) -> Iterator[_Strategy]:
    yield _CarefulCopy(attempt)


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


def _row_json(batch: SourceBatch, record: int) -> str:
    rows = np.flatnonzero(batch.record_numbers() == record)
    return dump_json(batch.data.slice(int(rows[0]), 1).to_pylist()[0]) if len(rows) else ""
