"""One unit of work — a file — loaded atomically with its manifest row; never raises for bad data.

A unit first runs in *fast* mode: pyarrow types the values as it parses and
the whole file goes through one COPY. Anything wrong with the data — a value
that does not convert, a ragged row, a JSON key first seen late, a row the
server refuses — rolls that attempt back and the unit runs again in *careful*
mode: every value is read as text, bad values and refused rows are set aside
as rejects (with file, line, column, value and reason) and the good rows load,
each batch under a savepoint. Past ``max_rejects`` the file fails and nothing
of it remains. Transient failures (a lost connection, a deadlock, a flaky
read) retry the whole attempt under the retry policies (see attempt.py for
what one attempt does).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

from pgingest.convert import ColumnTypeError
from pgingest.discover import file_error
from pgingest.errors import LoadError, ParseError, PgIngestError
from pgingest.match import match_columns
from pgingest.parse import SchemaDrift, SourceReader, open_reader
from pgingest.parse.encoding import TextEncoding
from pgingest.pipeline.attempt import (
    Attempt,
    LoadedElsewhereError,
    RejectRatioError,
    RetryCarefullyError,
    TooManyRejectsError,
    Unit,
    UnitContext,
    locate_rejects,
    run_attempt,
)
from pgingest.pipeline.reject_ratio import likely_cause
from pgingest.report.rejects import Reject

__all__ = [
    "Unit",
    "UnitContext",
    "UnitResult",
    "lacking_warning",
    "landed",
    "load_attempts",
    "load_unit",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitResult:
    """How a unit ended."""

    unit: Unit
    rows: int = 0  # rows inserted or updated
    parsed: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    skipped_by_trigger: int = 0  # a BEFORE trigger on the table returned NULL for them
    warned: int = 0
    rejects: tuple[Reject, ...] = ()
    started: float = 0.0
    finished: float = 0.0
    error: PgIngestError | None = None
    stage: str | None = None
    skipped: bool = False  # another run loaded the file first
    lacking: tuple[str, ...] = ()  # table columns the file does not have (given defaults)
    encoding: str | None = None  # the text encoding, where detected (not declared, not UTF-8)
    notes: tuple[
        str, ...
    ] = ()  # how the reader read the file (a sniffed delimiter), for the report

    @property
    def rejected(self) -> int:
        """Records set aside as rejects."""
        return len(self.rejects)

    @property
    def is_success(self) -> bool:
        """Whether the unit's rows landed."""
        return self.error is None and not self.skipped


def load_attempts(unit: Unit, ctx: UnitContext, reader: SourceReader) -> Attempt:
    """Fast mode, then careful mode if the data asks for it; transient failures retried."""
    plan = match_columns(reader.column_names(), unit.table, unit.source, unit.file)
    careful = False
    tries = 0

    def attempt() -> Attempt:
        nonlocal tries
        tries += 1
        if tries > 1:  # the last attempt rolled back: its rows no longer count
            reason = "carefully, to set bad records aside" if careful else "after a retry"
            ctx.reporter.unit_restarted(unit.file, reason=reason)
        return run_attempt(unit, plan, reader, ctx, careful=careful)

    while True:
        try:
            return ctx.retrier.call(attempt, what=unit.file.path)
        except RetryCarefullyError as exc:
            if careful:  # pragma: no cover - the careful path never asks for itself
                raise ParseError(str(exc), path=unit.file.path) from exc
            logger.info("%s: reading again carefully: %s", unit.file.path, exc)
            ctx.metrics.add("retries.careful")
            careful = True
        except SchemaDrift:
            plan = match_columns(
                reader.column_names(complete=True), unit.table, unit.source, unit.file
            )
            ctx.metrics.add("retries.careful")
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
        attempt = load_attempts(unit, ctx, reader)
    except LoadedElsewhereError:
        logger.info("%s was loaded by another run meanwhile; skipped", unit.file.path)
        ctx.reporter.file_skipped(unit.file, "loaded by another run")
        return UnitResult(unit, skipped=True, started=started, finished=time.perf_counter())
    except TooManyRejectsError as exc:
        return _failed(
            unit,
            ctx,
            too_many_rejects(exc, reader, unit),
            stage="validate",
            started=started,
            rejects=tuple(locate_rejects(exc.rejects, reader)),
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
    except OSError as exc:  # the file went away (or became unreadable) since discovery
        return _failed(unit, ctx, file_error(exc, unit.file.path), stage=stage, started=started)
    except Exception as exc:  # a bug must fail this file, not the other files of the run
        logger.exception("internal error while loading %s", unit.file.path)
        internal = PgIngestError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="please report this with PGINGEST_LOG=debug output",
            path=unit.file.path,
        )
        return _failed(unit, ctx, internal, stage=stage, started=started)
    result = landed(unit, attempt, ctx, started=started, finished=time.perf_counter())
    notes = tuple(getattr(reader, "notes", ()))
    return dataclasses.replace(result, encoding=detected_encoding(reader), notes=notes)


def detected_encoding(reader: SourceReader) -> str | None:
    """The codec a text reader detected (None when declared, UTF-8, or not text)."""
    found = getattr(reader, "text_encoding", None)
    return found.codec if isinstance(found, TextEncoding) and found.is_detected else None


def landed(
    unit: Unit, attempt: Attempt, ctx: UnitContext, *, started: float, finished: float
) -> UnitResult:
    """The result of a unit whose rows committed; its figures go to the run's metrics."""
    rows = attempt.inserted + attempt.updated
    ctx.metrics.add_table_rows(str(unit.table.name), rows)
    ctx.metrics.add("records.updated", attempt.updated)
    ctx.reporter.unit_finished(unit.file, rows=rows)
    if attempt.lacking:
        logger.warning("%s", lacking_warning(unit, attempt.lacking))
    return UnitResult(
        unit,
        rows=rows,
        parsed=attempt.parsed,
        inserted=attempt.inserted,
        updated=attempt.updated,
        duplicates=attempt.duplicates,
        skipped_by_trigger=attempt.skipped,
        warned=attempt.warned,
        rejects=tuple(attempt.rejects),
        started=started,
        finished=finished,
        lacking=attempt.lacking,
    )


def lacking_warning(unit: Unit, lacking: tuple[str, ...]) -> str:
    """The warning naming the table columns a loaded file does not have."""
    names = ", ".join(repr(name) for name in lacking[:20])
    more = f" and {len(lacking) - 20} more" if len(lacking) > 20 else ""
    return (
        f"{unit.file.path}: the file has no column {names}{more} of table {unit.table.name}; "
        "those columns got their defaults (or NULL)"
    )


def too_many_rejects(exc: TooManyRejectsError, reader: SourceReader, unit: Unit) -> LoadError:
    """The error of a file that had more rejects than max_rejects (or max_reject_ratio)."""
    located = locate_rejects(exc.rejects, reader)
    if isinstance(exc, RejectRatioError):
        return _ratio_error(exc, located, unit, getattr(reader, "delimiter", ","))
    return LoadError(
        f"{len(located)} record{'s' if len(located) != 1 else ''} rejected, more than "
        f"max_rejects ({exc.limit}); "
        f"first: line {located[0].line}: {located[0].error}",
        hint="see `pgingest rejects` for this file, fix the records, or raise max_rejects",
        path=unit.file.path,
        table=str(unit.table.name),
    )


def _ratio_error(
    exc: RejectRatioError, located: list[Reject], unit: Unit, delimiter: str
) -> LoadError:
    share = len(located) / exc.parsed if exc.parsed else 1.0
    return LoadError(
        f"{len(located):,} of {exc.parsed:,} records rejected ({share:.0%}), more than "
        f"max_reject_ratio ({exc.ratio:g}); none of the file was loaded; likely cause: "
        f"{likely_cause(located, unit.file.format, delimiter)}; "
        f"first: line {located[0].line}: {located[0].error}",
        hint="see `pgingest rejects` for this file; fix the source's settings or the file, "
        "or raise max_reject_ratio (--max-reject-ratio)",
        path=unit.file.path,
        table=str(unit.table.name),
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
