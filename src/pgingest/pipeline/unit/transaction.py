"""One attempt at a unit: a single transaction holding its rows, rejects and manifest row.

Rows go into the target directly (append) or into a staging table that is
then merged (upsert, or append with ``sql`` rules); see batches.py for the
batches and staged.py for the merge.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from pgingest.errors import LoadError, PgIngestError
from pgingest.load.connect import translate_db_error
from pgingest.load.merge import Stage, create_stage, require_unique_key
from pgingest.match import UnitPlan
from pgingest.parse import SourceReader
from pgingest.pipeline.unit.attempt import Attempt
from pgingest.pipeline.unit.batches import copy_rows
from pgingest.pipeline.unit.model import (
    LoadedElsewhereError,
    RejectRatioError,
    Tally,
    Unit,
    UnitContext,
)
from pgingest.pipeline.unit.reject_ratio import exceeds_ratio
from pgingest.pipeline.unit.reload import forget_earlier_load
from pgingest.pipeline.unit.result import locate_rejects
from pgingest.pipeline.unit.staged import merge_stage
from pgingest.report.formatting import counted
from pgingest.store.manifest import is_recorded, overlaps_loaded, record_loaded
from pgingest.store.rejects import write_rejects
from pgingest.store.schema import MANIFEST_UNIQUE_INDEX
from pgingest.validate import RuleChecker

logger = logging.getLogger(__name__)

__all__ = ["check_counts", "run_attempt"]


def run_attempt(
    unit: Unit,
    plan: UnitPlan,
    reader: SourceReader,
    ctx: UnitContext,
    *,
    careful: bool,
    conn: psycopg.Connection[Any] | None = None,
) -> Tally:
    """One transaction: the rows, the rejects and the manifest row, or none of them.

    With ``conn``, the attempt runs inside the caller's transaction (several
    files landing together) under a savepoint.
    """
    if conn is not None:
        return _run_on(conn, unit, plan, reader, ctx, careful=careful)
    try:
        with ctx.pool.connection() as pooled:
            return _run_on(pooled, unit, plan, reader, ctx, careful=careful, commits=True)
    except _CommitUnknownError as unknown:
        # The COMMIT went out and its reply was lost: the manifest says whether it landed.
        if ctx.retrier.call(
            lambda: _recorded_by_run(unit, ctx), what=f"checking {unit.file.path} landed"
        ):
            return unknown.tally
        raise unknown.error from None


class _CommitUnknownError(Exception):
    """The connection broke during COMMIT: the unit may or may not have landed."""

    def __init__(self, tally: Tally, error: PgIngestError) -> None:
        super().__init__(error.describe())
        self.tally, self.error = tally, error


def _recorded_by_run(unit: Unit, ctx: UnitContext) -> bool:
    table = str(unit.table.name)
    try:
        with ctx.pool.connection() as conn:
            return is_recorded(conn, decision=unit.decision, table_name=table, run_id=ctx.run_id)
    except psycopg.Error as exc:
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc


def _run_on(
    conn: psycopg.Connection[Any],
    unit: Unit,
    plan: UnitPlan,
    reader: SourceReader,
    ctx: UnitContext,
    *,
    careful: bool,
    commits: bool = False,
) -> Tally:
    table = str(unit.table.name)
    committing = False
    tally = Tally(lacking=plan.lacking)
    try:
        with conn.transaction():
            stage = _destination(conn, unit, plan)
            rules = RuleChecker(unit.source.rules)
            attempt = Attempt(unit, plan, reader, ctx, conn, careful, stage, rules, tally)
            _fill(attempt)
            check_counts(attempt)
            start = ctx.metrics.now()
            _record(attempt)
            committing = commits
        ctx.metrics.record_stage("copy", start, ctx.metrics.now())
    except psycopg.OperationalError as exc:
        error = translate_db_error(exc, path=unit.file.path, table=table)
        if committing:
            raise _CommitUnknownError(tally, error) from exc
        raise error from exc
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == MANIFEST_UNIQUE_INDEX:
            raise LoadedElsewhereError from exc
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc
    except psycopg.Error as exc:
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc
    except PgIngestError as exc:
        raise exc.with_context(path=unit.file.path) from None
    return tally


def _destination(conn: psycopg.Connection[Any], unit: Unit, plan: UnitPlan) -> Stage | None:
    """The staging table the rows go through, if any; a changed file's earlier rows gone."""
    source = unit.source
    stage = None
    if source.mode == "upsert" or any(r.sql for r in source.rules):
        if source.mode == "upsert":
            require_unique_key(conn, unit.table.name, source.key or [])
        stage = create_stage(conn, unit.table.name, [t.name for t in plan.targets])
    if unit.decision.action == "changed":
        forget_earlier_load(conn, unit, plan)
    return stage


def _fill(attempt: Attempt) -> None:
    """Every row of the file into the target (or the stage, then merged)."""
    copy_rows(attempt)
    tally = attempt.tally
    if attempt.stage is not None:
        merge_stage(attempt)
    else:
        tally.inserted = tally.copied - tally.skipped
    if tally.skipped:
        logger.warning(
            "%s: %d rows not inserted: a BEFORE trigger on %s turned them away",
            attempt.unit.file.path,
            tally.skipped,
            attempt.unit.table.name,
        )


def check_counts(attempt: Attempt) -> None:
    """min_rows, max_rows, max_reject_ratio, and every record accounted for."""
    source, tally, path = attempt.unit.source, attempt.tally, attempt.unit.file.path
    if source.min_rows is not None and tally.parsed < source.min_rows:
        raise LoadError(
            f"the file has {counted(tally.parsed, 'record')},"
            f" fewer than min_rows ({source.min_rows})",
            path=path,
        )
    if source.max_rows is not None and tally.parsed > source.max_rows:
        raise LoadError(
            f"the file has {counted(tally.parsed, 'record')},"
            f" more than max_rows ({source.max_rows})",
            path=path,
        )
    ratio = source.max_reject_ratio
    if ratio is None:
        ratio = attempt.context.max_reject_ratio
    if exceeds_ratio(parsed=tally.parsed, rejected=len(tally.rejects), ratio=ratio):
        assert ratio is not None
        raise RejectRatioError(tally.rejects, parsed=tally.parsed, ratio=ratio)
    if tally.accounted != tally.parsed:
        raise LoadError(
            f"reconciliation failed: {tally.parsed} records parsed but {tally.inserted} "
            f"inserted + {tally.updated} updated + {tally.duplicates} merged duplicates + "
            f"{tally.skipped} skipped by a trigger + {len(tally.rejects)} rejected "
            f"= {tally.accounted}",
            hint="this is a bug in pgingest; please report it",
            path=path,
        )


def _record(attempt: Attempt) -> None:
    """The rejects and the manifest row, in the attempt's transaction."""
    unit, tally, ctx = attempt.unit, attempt.tally, attempt.context
    table = str(unit.table.name)
    tally.rejects = locate_rejects(tally.rejects, attempt.reader)
    write_rejects(
        attempt.conn,
        run_id=ctx.run_id,
        table_name=table,
        source=unit.file.path,
        rejects=tally.rejects,
    )
    if overlaps_loaded(attempt.conn, decision=unit.decision, table_name=table):
        raise LoadedElsewhereError  # another run cut the file into other chunks
    record_loaded(
        attempt.conn,
        decision=unit.decision,
        table_name=table,
        rows=tally.rows,
        rejected=len(tally.rejects),
        run_id=ctx.run_id,
    )
