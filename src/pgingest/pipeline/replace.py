"""``mode: replace``: a table's contents replaced by all of a source's files, atomically.

One transaction deletes the old rows and copies every file (each under its own
savepoint, fast then careful, with rejects as usual), then commits. Readers see
the old rows until the commit and the new ones after: never a mix, never an
empty table (DELETE, unlike TRUNCATE, is MVCC-safe). Indexes, constraints,
grants and dependent views are untouched because the table itself is. If any
file fails, the whole replace rolls back and the table keeps its old rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql

from pgingest.config import Source
from pgingest.convert import ColumnTypeError
from pgingest.discover import file_error
from pgingest.errors import LoadError, PgIngestError
from pgingest.load.catalog import Table
from pgingest.load.connect import translate_db_error
from pgingest.manifest import lock_for_replace, replace_table_manifest
from pgingest.match import match_columns
from pgingest.parse import SchemaDrift, SourceReader, open_reader
from pgingest.pipeline.attempt import (
    Attempt,
    LoadedElsewhereError,
    RetryCarefullyError,
    TooManyRejectsError,
    Unit,
    UnitContext,
    run_attempt,
)
from pgingest.pipeline.unit import UnitResult, landed, too_many_rejects

__all__ = ["ReplaceGroup", "as_replace_units", "load_replace"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplaceGroup:
    """All files of a replace-mode source: they land together or not at all."""

    source: Source
    table: Table
    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Bytes of all its files (for scheduling the largest work first)."""
        return sum(u.file.size for u in self.units)


class _FileFailedError(Exception):
    def __init__(self, unit: Unit, error: PgIngestError, stage: str) -> None:
        super().__init__(error.describe())
        self.unit, self.error, self.stage = unit, error, stage


def _load_file(conn: psycopg.Connection[Any], unit: Unit, ctx: UnitContext) -> Attempt:
    reader: SourceReader = open_reader(unit.file, unit.source)
    plan = match_columns(reader.column_names(), unit.table, unit.source, unit.file)
    careful = False
    while True:  # fast, then careful; each attempt under a savepoint of the replace
        try:
            return run_attempt(unit, plan, reader, ctx, careful=careful, conn=conn)
        except RetryCarefullyError:
            if careful:  # pragma: no cover - the careful path never asks for itself
                raise
            logger.info("%s: reading again carefully", unit.file.path)
            careful = True
        except SchemaDrift:
            plan = match_columns(
                reader.column_names(complete=True), unit.table, unit.source, unit.file
            )
            careful = True
        except TooManyRejectsError as exc:
            error = too_many_rejects(exc, reader, unit)
            raise _FileFailedError(unit, error, "validate") from exc


def _replace_once(group: ReplaceGroup, ctx: UnitContext) -> list[tuple[Unit, Attempt]]:
    done: list[tuple[Unit, Attempt]] = []
    with ctx.pool.connection() as conn:
        try:
            with conn.transaction():
                lock_for_replace(conn, table_name=str(group.table.name))
                conn.execute(sql.SQL("DELETE FROM {}").format(group.table.name.identifier))
                replace_table_manifest(conn, table_name=str(group.table.name))
                for unit in group.units:
                    try:
                        done.append((unit, _load_file(conn, unit, ctx)))
                    except PgIngestError as exc:
                        if exc.is_transient:
                            raise
                        raise _FileFailedError(unit, exc, "copy") from exc
                    except OSError as exc:
                        raise _FileFailedError(
                            unit, file_error(exc, unit.file.path), "parse"
                        ) from exc
                    except (ColumnTypeError, LoadedElsewhereError) as exc:
                        error = LoadError(
                            f"cannot replace with this file: {exc}", path=unit.file.path
                        )
                        raise _FileFailedError(unit, error, "copy") from exc
        except psycopg.Error as exc:
            raise translate_db_error(exc, table=str(group.table.name)) from exc
    return done


def load_replace(group: ReplaceGroup, ctx: UnitContext) -> list[UnitResult]:
    """Replace the table's rows with the group's files; one result per file."""
    started = time.perf_counter()
    for unit in group.units:
        ctx.reporter.unit_started(unit.file)
    try:
        done = ctx.retrier.call(
            lambda: _replace_once(group, ctx), what=f"replacing {group.table.name}"
        )
    except _FileFailedError as failure:
        return _all_failed(group, ctx, failure, started)
    except PgIngestError as exc:
        return [_result(u, ctx, exc, "copy", started) for u in group.units]
    except Exception as exc:  # a bug must fail this replace, not the whole run
        logger.exception("internal error while replacing %s", group.table.name)
        internal = PgIngestError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="please report this with PGINGEST_LOG=debug output",
        )
        return [_result(u, ctx, internal, "copy", started) for u in group.units]
    finished = time.perf_counter()
    return [
        landed(unit, attempt, ctx, started=started, finished=finished) for unit, attempt in done
    ]


def _all_failed(
    group: ReplaceGroup, ctx: UnitContext, failure: _FileFailedError, started: float
) -> list[UnitResult]:
    results = [_result(failure.unit, ctx, failure.error, failure.stage, started)]
    for unit in group.units:
        if unit is not failure.unit:
            error = LoadError(
                f"not loaded: the replace of {group.table.name} rolled back because "
                f"{failure.unit.file.path} failed; the table keeps its earlier rows",
                path=unit.file.path,
                table=str(group.table.name),
            )
            results.append(_result(unit, ctx, error, "copy", started))
    return results


def _result(
    unit: Unit, ctx: UnitContext, error: PgIngestError, stage: str, started: float
) -> UnitResult:
    ctx.reporter.unit_failed(unit.file, error)
    return UnitResult(unit, error=error, stage=stage, started=started, finished=time.perf_counter())


def as_replace_units(units: list[Unit]) -> tuple[Unit, ...]:
    """Units of a replace: each file loads fresh (the table is emptied first)."""
    return tuple(replace(u, decision=replace(u.decision, action="load")) for u in units)
