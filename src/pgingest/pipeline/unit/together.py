"""What the files of one group's transaction share: COPY statements, plans, parsing, conversion.

group.py takes consecutive small files into one transaction; these gather
their work so that it is paid per group rather than per file (issue 12): one
COPY statement while the table and columns agree (``SharedCopies``), the last
file's column match reused for the next file with its header (``Plans``), small
CSV files' records parsed as one text (``ReadTogether``), and their batches
converted and written as one (``ConvertedTogether``). Each row still counts for
its own file, and anything unexpected raises, so the group rolls back and each
file loads alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pyarrow as pa

from pgingest.config import Source
from pgingest.convert import convert_batch
from pgingest.errors import LoadError
from pgingest.load.catalog import Table
from pgingest.load.copy import CopyWriter
from pgingest.load.server_input import ServerInput
from pgingest.match import UnitPlan, match_columns
from pgingest.naming import TableName
from pgingest.parse import ReadPlan, SourceBatch
from pgingest.parse.csv import CsvReader, Records
from pgingest.pipeline.unit.attempt import Attempt
from pgingest.pipeline.unit.batches import fast_convert_context
from pgingest.pipeline.unit.model import RetryCarefullyError, Unit, UnitContext
from pgingest.types import TargetColumn

__all__ = [
    "READ_TOGETHER_BYTES",
    "ConvertedTogether",
    "Plans",
    "ReadTogether",
    "SharedCopies",
    "shared_copies",
]


class SharedCopies:
    """One COPY statement for consecutive files that write the same table and columns."""

    def __init__(self, conn: psycopg.Connection[Any], ctx: UnitContext) -> None:
        self.conn, self._ctx = conn, ctx
        self._key: tuple[str, list[TargetColumn]] | None = None
        self._cursor: psycopg.Cursor[Any] | None = None
        self._writer: CopyWriter | None = None
        self.skipped = 0  # rows a BEFORE trigger turned away, over every statement ended

    def writer_for(self, table: TableName, columns: list[TargetColumn]) -> CopyWriter:
        """The open COPY into ``table (columns)``: the same one as the last file's if it can be."""
        key = (str(table), columns)
        if self._writer is None or key != self._key:
            self.end()
            self._cursor = self.conn.cursor()
            self._writer = CopyWriter(self._cursor, table, columns, metrics=self._ctx.metrics)
            self._key = key
        return self._writer

    def end(self) -> None:
        """End the open COPY statement; the server's errors for it are raised here."""
        writer, cursor, self._writer, self._cursor = self._writer, self._cursor, None, None
        if writer is not None and cursor is not None:
            writer.close()
            self.skipped += writer.skipped
            cursor.close()

    def abort(self, error: BaseException) -> None:
        """Tell the server the open COPY failed (the transaction then rolls back)."""
        writer, cursor, self._writer, self._cursor = self._writer, self._cursor, None, None
        if writer is not None and cursor is not None:
            writer.__exit__(type(error), error, error.__traceback__)
            cursor.close()


@contextmanager
def shared_copies(conn: psycopg.Connection[Any], ctx: UnitContext) -> Iterator[SharedCopies]:
    copies = SharedCopies(conn, ctx)
    try:
        yield copies
    except BaseException as exc:
        copies.abort(exc)
        raise
    copies.end()


class Plans:
    """The last file's column match and read plan, for the next file with its header.

    A match depends on the file's column names and format, the table and the
    source (the file itself only names itself in errors and in the lineage
    column); consecutive files of a group mostly share all of them (issue 12:
    matching and planning were ~0.1 ms of a 400-row file).
    """

    def __init__(self, ctx: UnitContext) -> None:
        self._ctx = ctx
        self._last: tuple[tuple[object, ...], Table, Source, UnitPlan, ReadPlan] | None = None

    def of(self, unit: Unit, names: list[str]) -> tuple[UnitPlan, ReadPlan]:
        """The unit's match of ``names`` and its fast read plan."""
        key = (tuple(names), unit.file.format)
        last = self._last
        if last is not None and (key, unit.table, unit.source) == last[:3]:
            plan, read_plan = last[3:]
            return replace(plan, file=unit.file), read_plan
        plan = match_columns(names, unit.table, unit.source, unit.file)
        read_plan = plan.read_plan(batch_rows=self._ctx.batch_rows, careful=False)
        self._last = (key, unit.table, unit.source, plan, read_plan)
        return plan, read_plan


# Text of small files parsed as one, at most (besides batch_size rows): bounds the memory
# that the texts and their parsed rows hold at once.
READ_TOGETHER_BYTES = 4 << 20


class ReadTogether:
    """Small CSV files' records parsed as one text: one pyarrow reader for several files.

    Opening pyarrow's reader was the largest cost left per 400-row file
    (issue 12). Consecutive files whose header names, dialect and read plan
    agree have their records (each file's text after its header line) parsed
    under the first one's header, a mark row after each file's
    (CsvReader.read_together). Each file's rows are those up to its mark, and
    must number its records as counted on its bytes (parse/record_count.py),
    or the group rolls back and each file loads alone.
    """

    def __init__(self, ctx: UnitContext, together: ConvertedTogether) -> None:
        self._ctx, self.together = ctx, together
        self._pending: list[tuple[Attempt, Records]] = []
        self._bytes = self._rows = 0
        self._key: tuple[object, ...] | None = None
        self._plan: ReadPlan | None = None  # the pending files' read plan (one for them all)

    def add(self, attempt: Attempt, records: Records, read_plan: ReadPlan) -> None:
        """A file's records, read by ``read_plan``; parsed once enough have gathered."""
        reader = attempt.reader
        assert isinstance(reader, CsvReader)
        key = (tuple(reader.column_names()), reader.delimiter, reader.quote, read_plan.columns)
        if self._pending and key != self._key:
            self.flush()
        self._key, self._plan = key, read_plan
        attempt.tally.parsed += records.count
        self._pending.append((attempt, records))
        self._bytes += len(records.text)
        self._rows += records.count
        if self._rows >= self._ctx.batch_rows or self._bytes >= READ_TOGETHER_BYTES:
            self.flush()

    def flush(self) -> None:
        """Parse what has gathered and hand each file's rows on, in the files' order."""
        pending, self._pending, self._bytes, self._rows = self._pending, [], 0, 0
        if not pending:
            return
        first = pending[0][0]
        reader, read_plan = first.reader, self._plan
        assert isinstance(reader, CsvReader)
        assert read_plan is not None
        metrics = self._ctx.metrics
        start = metrics.now()
        pieces: list[list[pa.RecordBatch]] = [[] for _ in pending]
        for index, batch in reader.read_together([r.text for _, r in pending], read_plan):
            pieces[index].append(batch)
        metrics.record_stage("parse", start, metrics.now())
        for (attempt, records), batches in zip(pending, pieces, strict=True):
            rows = sum(batch.num_rows for batch in batches)
            if rows != records.count:  # each file's end is marked: its rows are its own
                raise LoadError(
                    f"read with other small files, the file gave {rows} rows where its "
                    f"{records.count} records were counted; it is read alone",
                    path=attempt.unit.file.path,
                )
        for (attempt, _), batches in zip(pending, pieces, strict=True):
            for batch in batches:
                self.together.add(attempt, SourceBatch(batch, 0))


@dataclass
class _Piece:
    attempt: Attempt
    batch: SourceBatch


class ConvertedTogether:
    """Parsed batches of consecutive files, converted as one batch and copied as one.

    A 400-row file's conversion costs about what 5,000 rows cost (a few Arrow
    kernel calls per column, fixed cost each; issue 12), so the group's files
    share it: their batches gather until ``batch_rows`` rows, or until a file
    whose columns or types differ, and are converted, and written, together.
    Each row keeps its file: its file's lineage is added to its rows, and its
    file's tally counts them. Conversion is value by value, so a value converts
    to the same thing in any batch. A bad value raises (the fast path's rule),
    and the group rolls back: each file then loads on its own.
    """

    def __init__(
        self, conn: psycopg.Connection[Any], ctx: UnitContext, copies: SharedCopies
    ) -> None:
        self._conn, self._ctx, self._copies = conn, ctx, copies
        self._pending: list[_Piece] = []
        self._rows = 0
        self._key: tuple[object, ...] | None = None

    def add(self, attempt: Attempt, batch: SourceBatch) -> None:
        """A file's parsed batch; converted and copied once enough rows have gathered."""
        key = _together_key(attempt, batch)
        if self._pending and key != self._key:
            self.flush()
        self._key = key
        self._pending.append(_Piece(attempt, batch))
        self._rows += batch.num_rows
        if self._rows >= self._ctx.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Convert and copy what has gathered."""
        pending, self._pending, self._rows = self._pending, [], 0
        if not pending:
            return
        first = pending[0].attempt
        writer = self._copies.writer_for(first.unit.table.name, first.plan.targets)
        parsed = [piece.batch.data for piece in pending]
        data = parsed[0] if len(parsed) == 1 else pa.concat_batches(parsed)
        metrics = self._ctx.metrics
        with metrics.stage("convert"):
            converted = convert_batch(
                data,
                first.plan.converted_targets,
                fast_convert_context(first),
                limit=0,
                server=ServerInput(self._conn, before=writer.end_statement),
            )
        if converted.bad:
            raise RetryCarefullyError(converted.bad[0].reason)
        outgoing, offset = [], 0
        for piece in pending:
            rows = piece.batch.num_rows
            outgoing.append(piece.attempt.plan.with_lineage(converted.batch.slice(offset, rows)))
            offset += rows
        writer.write(outgoing[0] if len(outgoing) == 1 else pa.concat_batches(outgoing))
        for piece in pending:
            piece.attempt.tally.copied += piece.batch.num_rows
            self._ctx.reporter.rows_loaded(
                piece.attempt.unit.file, rows=piece.batch.num_rows, fraction=0.0
            )


def _together_key(attempt: Attempt, batch: SourceBatch) -> tuple[object, ...]:
    """What batches converted and copied as one must share."""
    plan = attempt.plan
    return (
        str(attempt.unit.table.name),
        plan.targets,
        fast_convert_context(attempt),
        batch.data.schema,
    )
