"""Binary COPY of Arrow batches: pgpq encodes, psycopg streams.

The COPY statement names its columns, so table columns the file lacks get
their defaults. pgpq buffers its output and flushes at ``finish()``, so one
encoder serves one COPY statement. An unconstrained numeric column may need a
larger scale in a later batch than in the first: earlier-scale batches are
widened losslessly, and a batch that needs more starts a new COPY statement
in the same transaction, with an encoder for the wider scale.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

import pgpq
import psycopg
import pyarrow as pa
from psycopg import sql

from pgingest.load.timing import NO_TIMING, StageTimer
from pgingest.naming import TableName
from pgingest.types import TargetColumn, encoder_builders

__all__ = ["CopyWriter", "copy_row_of_error", "copy_statement", "new_encoder"]


def copy_statement(table: TableName, columns: Sequence[str]) -> sql.Composed:
    """``COPY schema.table (col, ...) FROM STDIN (FORMAT binary)``, identifiers quoted."""
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        table.identifier, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def new_encoder(
    schema: pa.Schema, columns: Sequence[TargetColumn]
) -> pgpq.ArrowToPostgresBinaryEncoder:
    """A pgpq encoder writing each field in its column's binary format.

    One encoder serves one COPY statement (it cannot be restarted after
    ``finish()``), but its plan is built once per (schema, column types).
    """
    if len(schema) != len(columns):
        raise ValueError(f"{len(schema)} fields for {len(columns)} columns")
    builders = encoder_builders(schema, [column.type for column in columns])
    if builders is None:
        return pgpq.ArrowToPostgresBinaryEncoder(schema)
    return pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(schema, builders)


def _widens_losslessly(source: pa.Schema, target: pa.Schema) -> bool:
    """Whether every field of ``source`` casts to ``target`` without loss (decimal scale up)."""
    for have, want in zip(source, target, strict=True):
        if have.type == want.type:
            continue
        if not (pa.types.is_decimal(have.type) and pa.types.is_decimal(want.type)):
            return False
        have_integer_digits = have.type.precision - have.type.scale
        if want.type.scale < have.type.scale or (
            want.type.precision - want.type.scale < have_integer_digits
        ):
            return False
    return True


class CopyWriter(AbstractContextManager["CopyWriter"]):
    """Streams target-typed batches into a table through binary COPY on ``cursor``."""

    def __init__(
        self,
        cursor: psycopg.Cursor[Any],
        table: TableName,
        columns: Sequence[TargetColumn],
        *,
        metrics: StageTimer = NO_TIMING,
    ) -> None:
        self._cursor = cursor
        self._columns = list(columns)
        self._statement = copy_statement(table, [c.name for c in columns])
        self._metrics = metrics
        self._copy_context: AbstractContextManager[psycopg.Copy] | None = None
        self._copy: psycopg.Copy | None = None
        self._encoder: pgpq.ArrowToPostgresBinaryEncoder | None = None
        self._schema: pa.Schema | None = None
        self.rows = 0
        self.statement_first_row = 0  # rows sent before the current COPY statement
        # Rows the server stored, from each COPY's own count: fewer than ``rows``
        # when a BEFORE trigger on the table returned NULL for some.
        self.stored_rows = 0

    def _start(self, schema: pa.Schema) -> None:
        self._encoder = new_encoder(schema, self._columns)
        self._schema = schema
        self.statement_first_row = self.rows
        self._copy_context = self._cursor.copy(self._statement)
        self._copy = self._copy_context.__enter__()
        self._copy.write(self._encoder.write_header())

    def _finish(self) -> None:
        if self._copy is None or self._encoder is None or self._copy_context is None:
            return
        with self._metrics.stage("copy"):
            self._copy.write(self._encoder.finish())
            context, self._copy_context, self._copy = self._copy_context, None, None
            context.__exit__(None, None, None)
        sent = self.rows - self.statement_first_row
        counted = self._cursor.rowcount  # from the "COPY n" command tag
        self.stored_rows += counted if 0 <= counted <= sent else sent

    @property
    def skipped(self) -> int:
        """Rows sent that the server did not store (a BEFORE trigger returned NULL)."""
        return self.rows - self.stored_rows

    def write(self, batch: pa.RecordBatch) -> None:
        """Encode and send one batch."""
        if batch.num_rows == 0:
            return
        if self._schema is not None and batch.schema != self._schema:
            if _widens_losslessly(batch.schema, self._schema):
                batch = batch.cast(self._schema)
            else:
                self._finish()
        if self._copy is None:
            self._start(batch.schema)
        assert self._encoder is not None
        assert self._copy is not None
        with self._metrics.stage("encode"):
            data = self._encoder.write_batch(batch)
        if data:
            with self._metrics.stage("copy"):
                self._copy.write(data)
        self.rows += batch.num_rows

    def end_statement(self) -> None:
        """End the current COPY statement (the next batch starts another), freeing the
        connection for a query in between: values the server must read first."""
        self._finish()

    def close(self) -> None:
        """Send what is buffered and end the COPY; errors the server found are raised here."""
        self._finish()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
            return
        context, self._copy_context, self._copy = self._copy_context, None, None
        if context is not None:
            # Tells the server the COPY failed (CopyFail); the transaction then rolls back.
            context.__exit__(kind, value, traceback)


# Only the context line about the COPY itself: a trigger's PL/pgSQL frame above
# it ("PL/pgSQL function f() line 5 at RAISE") names a line of its own source.
_COPY_LINE = re.compile(r"^COPY .*, line (\d+)", re.MULTILINE)


def copy_row_of_error(context: str | None) -> int | None:
    """The 0-based COPY row an error's CONTEXT names (``COPY t, line 42``), if any.

    For binary COPY the server counts tuples as lines, starting at 1.
    """
    if not context:
        return None
    match = _COPY_LINE.search(context)
    return int(match.group(1)) - 1 if match else None
