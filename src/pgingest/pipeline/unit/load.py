"""A file's load: the one fast → careful → retry loop, and the one place its errors settle.

A file first runs in *fast* mode: pyarrow types the values as it parses and
the whole file goes through one COPY. Anything wrong with the data — a value
that does not convert, a ragged row, a JSON key first seen late, a row the
server refuses — rolls that attempt back and the file runs again in *careful*
mode: every value is read as text, bad values and refused rows are set aside
as rejects (with file, line, column, value and reason) and the good rows load,
each batch under a savepoint. Past ``max_rejects`` the file fails and nothing
of it remains. Transient failures (a lost connection, a deadlock, a flaky
read) retry the whole attempt under the retry policies.

Several files may land in one transaction (``mode: replace``, see
replace.py): each runs the same loop under a savepoint of that transaction,
and a transient failure retries the transaction, not the file. ``settle``
turns whatever a group of files raised into one result per file, for the one
file (``load_unit``) and for the group alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from pgingest.convert import ColumnTypeError
from pgingest.discover import file_error
from pgingest.errors import LoadError, ParseError, PgIngestError
from pgingest.match import match_columns
from pgingest.parse import SchemaDrift, SourceReader, open_reader
from pgingest.pipeline.unit.model import (
    LoadedElsewhereError,
    RetryCarefullyError,
    Tally,
    TooManyRejectsError,
    Unit,
    UnitContext,
)
from pgingest.pipeline.unit.result import (
    UnitFailure,
    UnitResult,
    detected_encoding,
    lacking_warning,
    too_many_rejects,
)
from pgingest.pipeline.unit.transaction import run_attempt

__all__ = [
    "FileFailedError",
    "Landed",
    "landed_result",
    "load_attempts",
    "load_file",
    "load_unit",
    "settle",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Landed:
    """A file whose attempt committed (or will, with the transaction it ran in)."""

    unit: Unit
    tally: Tally
    encoding: str | None
    notes: tuple[str, ...] = ()  # how the reader read the file (a sniffed delimiter)


class FileFailedError(Exception):
    """A file of a group failed: the group's transaction rolls back."""

    def __init__(self, unit: Unit, failure: UnitFailure) -> None:
        super().__init__(failure.error.describe())
        self.unit, self.failure = unit, failure


def load_unit(unit: Unit, ctx: UnitContext) -> UnitResult:
    """Load one file; never raises for a problem with the file or the data (see the result)."""
    [result] = settle((unit,), ctx, lambda: [load_file(unit, ctx)], what=unit.file.path)
    return result


def load_file(
    unit: Unit, ctx: UnitContext, *, conn: psycopg.Connection[Any] | None = None
) -> Landed:
    """Open the file and run the loop; a problem with the file raises FileFailedError.

    With ``conn`` the file lands inside the caller's transaction, and a transient
    failure is left to the caller, which retries that transaction whole.
    """
    stage = "plan"
    reader: SourceReader | None = None
    try:
        reader = open_reader(unit.file, unit.source)
        reader.column_names()
        stage = "load"
        tally = load_attempts(unit, ctx, reader, conn=conn)
    except LoadedElsewhereError:
        raise
    except PgIngestError as exc:
        if conn is not None and exc.is_transient:
            raise
        raise FileFailedError(unit, _failure(exc, unit, reader, stage)) from exc
    except Exception as exc:
        raise FileFailedError(unit, _failure(exc, unit, reader, stage)) from exc
    return Landed(unit, tally, detected_encoding(reader), tuple(getattr(reader, "notes", ())))


def load_attempts(
    unit: Unit,
    ctx: UnitContext,
    reader: SourceReader,
    *,
    conn: psycopg.Connection[Any] | None = None,
) -> Tally:
    """Fast mode, then careful mode if the data asks for it; transient failures retried."""
    plan = match_columns(reader.column_names(), unit.table, unit.source, unit.file)
    careful = False
    tries = 0

    def attempt() -> Tally:
        nonlocal tries
        tries += 1
        if tries > 1:  # the last attempt rolled back: its rows no longer count
            reason = "carefully, to set bad records aside" if careful else "after a retry"
            ctx.reporter.unit_restarted(unit.file, reason=reason)
        return run_attempt(unit, plan, reader, ctx, careful=careful, conn=conn)

    # Inside a caller's transaction a transient failure broke that transaction:
    # only the caller can retry it.
    retry = ctx.retrier.call if conn is None else _once
    while True:
        try:
            return retry(attempt, what=unit.file.path)
        except RetryCarefullyError as exc:
            if careful:  # pragma: no cover - the careful path never asks for itself
                raise ParseError(str(exc), path=unit.file.path) from exc
            logger.info("%s: reading again carefully: %s", unit.file.path, exc)
        except SchemaDrift:
            plan = match_columns(
                reader.column_names(complete=True), unit.table, unit.source, unit.file
            )
        ctx.metrics.add("retries.careful")
        careful = True


def _once(work: Callable[[], Tally], *, what: str) -> Tally:
    del what
    return work()


def _failure(exc: Exception, unit: Unit, reader: SourceReader | None, stage: str) -> UnitFailure:
    """What a file's failure was, by what it raised and where."""
    path = unit.file.path
    if isinstance(exc, TooManyRejectsError) and reader is not None:
        return too_many_rejects(exc, reader, unit)
    if isinstance(exc, ColumnTypeError):
        hint = "the file's type for this column cannot become the table's; change one of them"
        return UnitFailure("convert", ParseError(str(exc), path=path, column=exc.column, hint=hint))
    if isinstance(exc, PgIngestError):
        exc.with_context(path=path)
        if stage == "load":
            stage = "copy" if isinstance(exc, LoadError) else "parse"
        return UnitFailure(stage, exc)
    if isinstance(exc, OSError):  # the file went away (or became unreadable) since discovery
        return UnitFailure(stage, file_error(exc, path))
    logger.exception("internal error while loading %s", path, exc_info=exc)
    return UnitFailure(stage, _internal_error(exc, path=path))


def _internal_error(exc: Exception, *, path: str | None = None) -> PgIngestError:
    """A bug: it fails the files it touched, not the other files of the run."""
    return PgIngestError(
        f"internal error: {type(exc).__name__}: {exc}",
        hint="please report this with PGINGEST_LOG=debug output",
        path=path,
    )


def settle(
    units: Sequence[Unit], ctx: UnitContext, work: Callable[[], list[Landed]], *, what: str
) -> list[UnitResult]:
    """Run the work that lands ``units`` together; one result per unit, whatever it raised."""
    started = time.perf_counter()
    for unit in units:
        ctx.reporter.unit_started(unit.file)
    try:
        done = work()
    except LoadedElsewhereError:
        return [_skipped(unit, ctx, started) for unit in units]
    except FileFailedError as failed:
        return _failed_together(units, ctx, failed, started, what=what)
    except PgIngestError as exc:  # the transaction itself, retried until the policy gave up
        return [_failed(unit, ctx, UnitFailure("copy", exc), started) for unit in units]
    except Exception as exc:  # a bug must fail these files, not the other files of the run
        logger.exception("internal error while loading %s", what)
        failure = UnitFailure("copy", _internal_error(exc))
        return [_failed(unit, ctx, failure, started) for unit in units]
    finished = time.perf_counter()
    return [landed_result(landed, ctx, started=started, finished=finished) for landed in done]


def landed_result(
    landed: Landed, ctx: UnitContext, *, started: float, finished: float
) -> UnitResult:
    """The result of a unit whose rows committed; its figures go to the run's metrics."""
    unit, tally = landed.unit, landed.tally
    ctx.metrics.add_table_rows(str(unit.table.name), tally.rows)
    ctx.metrics.add("records.updated", tally.updated)
    ctx.reporter.unit_finished(unit.file, rows=tally.rows)
    if tally.lacking:
        logger.warning("%s", lacking_warning(unit, tally.lacking))
    return UnitResult(
        unit,
        tally,
        started=started,
        finished=finished,
        encoding=landed.encoding,
        notes=landed.notes,
    )


def _skipped(unit: Unit, ctx: UnitContext, started: float) -> UnitResult:
    logger.info("%s was loaded by another run meanwhile; skipped", unit.file.path)
    ctx.reporter.file_skipped(unit.file, "loaded by another run")
    return UnitResult(unit, skipped=True, started=started, finished=time.perf_counter())


def _failed_together(
    units: Sequence[Unit], ctx: UnitContext, failed: FileFailedError, started: float, *, what: str
) -> list[UnitResult]:
    """The failed file's result, and the others', which rolled back with it."""
    results = [_failed(failed.unit, ctx, failed.failure, started)]
    for unit in units:
        if unit is not failed.unit:
            error = LoadError(
                f"not loaded: {what} rolled back because {failed.unit.file.path} failed; "
                "the table keeps its earlier rows",
                path=unit.file.path,
                table=str(unit.table.name),
            )
            results.append(_failed(unit, ctx, UnitFailure("copy", error), started))
    return results


def _failed(unit: Unit, ctx: UnitContext, failure: UnitFailure, started: float) -> UnitResult:
    logger.info("failed: %s", failure.error.describe())
    ctx.reporter.unit_failed(unit.file, failure.error)
    return UnitResult(unit, failure=failure, started=started, finished=time.perf_counter())
