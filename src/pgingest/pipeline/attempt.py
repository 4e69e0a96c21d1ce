"""One attempt at a unit: a single transaction holding its rows, rejects and manifest row.

Per batch: parse → convert → validate (rules) → encode → copy, into the target
directly (append) or into a staging table that is then merged (upsert, or
append with ``sql`` rules). Fast mode sends the whole file through one COPY
and asks for the careful mode at the first bad value or refused row; careful
mode copies batch by batch under savepoints and sets bad records aside.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from pgingest.errors import LoadError, PgIngestError
from pgingest.load.connect import translate_db_error
from pgingest.load.merge import create_stage, require_unique_key
from pgingest.load.schema import MANIFEST_UNIQUE_INDEX
from pgingest.manifest import (
    is_recorded,
    loaded_rows,
    lock_for_replace,
    mark_replaced,
    overlaps_loaded,
    record_loaded,
)
from pgingest.match import UnitPlan
from pgingest.parse import SourceReader
from pgingest.pipeline.batches import copy_careful, copy_fast, rule_failure
from pgingest.pipeline.flow import (
    Attempt,
    Flow,
    LoadedElsewhereError,
    RejectRatioError,
    RetryCarefullyError,
    TooManyRejectsError,
    Unit,
    UnitContext,
)
from pgingest.pipeline.reject_ratio import exceeds_ratio
from pgingest.report.rejects import Reject, write_rejects
from pgingest.validate import RuleChecker, describe_rule

logger = logging.getLogger(__name__)

__all__ = [
    "Attempt",
    "LoadedElsewhereError",
    "RejectRatioError",
    "RetryCarefullyError",
    "TooManyRejectsError",
    "Unit",
    "UnitContext",
    "locate_rejects",
    "run_attempt",
]


def _check_sql_rules(flow: Flow) -> None:
    """sql rules on the staged rows: reject (discard), fail (raise) or warn (count)."""
    assert flow.stage is not None
    for rule in flow.rules.rules:
        if rule.sql is None:
            continue
        with flow.ctx.metrics.stage("validate"):
            try:
                broken = flow.stage.check_sql_rule(rule.sql)
            except psycopg.Error as exc:
                if translate_db_error(exc).is_transient:  # a lost connection, not the rule
                    raise
                raise LoadError(
                    f"validate rule {rule.sql!r} is not valid SQL here: "
                    f"{(exc.diag.message_primary or str(exc)).strip()}",
                    hint="a rule's sql is one read-only boolean expression over the "
                    "file's columns, like a CHECK constraint",
                ) from exc
        if not broken:
            continue
        description = f"rule failed: {describe_rule(rule)}"
        if rule.action == "fail":
            raise rule_failure(flow, description, broken[0])
        if rule.action == "warn":
            flow.attempt.warned += len(broken)
            continue
        flow.stage.discard(broken)
        flow.attempt.rejects.extend(Reject(record=r, error=description) for r in broken)
        flow.check_limit()


def _merge(flow: Flow) -> None:
    assert flow.stage is not None
    _check_sql_rules(flow)
    key = flow.unit.source.key if flow.unit.source.mode == "upsert" else None
    if key:
        # A NULL key matches nothing, not even another NULL: such a row cannot be
        # upserted, and DISTINCT ON would fold all of them into one.
        nulls = flow.stage.null_keys(key)
        if nulls:
            flow.stage.discard(nulls)
            names = ", ".join(key)
            flow.attempt.rejects.extend(
                Reject(record=r, error=f"the upsert key ({names}) is NULL", column=key[0])
                for r in nulls
            )
            flow.check_limit()
    with flow.ctx.metrics.stage("merge"):
        counts = flow.stage.merge(key=key, limit=flow.limit())
    flow.attempt.inserted += counts.inserted
    flow.attempt.updated += counts.updated
    flow.attempt.duplicates += counts.duplicates
    flow.attempt.skipped += counts.skipped
    flow.attempt.rejects.extend(
        Reject(record=r.row, error=r.message, column=r.column, sqlstate=r.sqlstate)
        for r in counts.refused
    )
    flow.check_limit()


def _needs_stage(unit: Unit) -> bool:
    return unit.source.mode == "upsert" or any(r.sql for r in unit.source.rules)


def _forget_earlier_load(conn: psycopg.Connection[Any], unit: Unit, plan: UnitPlan) -> None:
    """on_change: reload — the file's earlier rows go, in the transaction that loads it again.

    In append mode the rows deleted by the lineage column must be exactly the
    rows the manifest says the file's loads inserted; anything else (rows
    loaded before the column existed, rows edited since) means the file's
    rows cannot be told apart, and the reload is refused — rolled back whole.
    """
    table = str(unit.table.name)
    lock_for_replace(conn, table_name=table, path=unit.file.path)
    if plan.lineage is not None:
        expected = loaded_rows(conn, table_name=table, path=unit.file.path)
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                unit.table.name.identifier, sql.Identifier(plan.lineage.name)
            ),
            (unit.file.path,),
        ).rowcount
        if unit.source.mode == "append" and deleted != expected:
            raise _unmatched_lineage(conn, unit, plan.lineage.name, expected, deleted)
    mark_replaced(conn, table_name=table, path=unit.file.path)


def _unmatched_lineage(
    conn: psycopg.Connection[Any], unit: Unit, column: str, expected: int, deleted: int
) -> LoadError:
    """The refusal of a reload whose earlier rows the lineage column does not single out."""
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
            unit.table.name.identifier, sql.Identifier(column)
        )
    ).fetchone()
    unnamed = int(row[0]) if row else 0
    why = (
        f"; {unnamed:,} rows of the table have no file in {column!r} (loaded before the "
        "column existed?)"
        if unnamed
        else ""
    )
    return LoadError(
        f"cannot reload: the manifest says the file's earlier loads inserted {expected:,} rows, "
        f"but {deleted:,} rows have it in {column!r}{why}; nothing was changed",
        hint=f"fill {column!r} with the file's path for its earlier rows (or delete them), "
        'then run again; or set "on_change": "skip"',
        path=unit.file.path,
        table=str(unit.table.name),
    )


def _check_counts(flow: Flow) -> None:
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
    ratio = source.max_reject_ratio
    if ratio is None:
        ratio = flow.ctx.max_reject_ratio
    if exceeds_ratio(parsed=attempt.parsed, rejected=len(attempt.rejects), ratio=ratio):
        assert ratio is not None
        raise RejectRatioError(attempt.rejects, parsed=attempt.parsed, ratio=ratio)
    if attempt.accounted != attempt.parsed:
        raise LoadError(
            f"reconciliation failed: {attempt.parsed} records parsed but {attempt.inserted} "
            f"inserted + {attempt.updated} updated + {attempt.duplicates} merged duplicates + "
            f"{attempt.skipped} skipped by a trigger + {len(attempt.rejects)} rejected "
            f"= {attempt.accounted}",
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


def _fill(flow: Flow) -> None:
    """Every row of the file into the target (or the stage, then merged)."""
    if flow.careful:
        copy_careful(flow)
    else:
        copy_fast(flow)
    if flow.stage is not None:
        _merge(flow)
    else:
        flow.attempt.inserted = flow.attempt.copied - flow.attempt.skipped
    if flow.attempt.skipped:
        logger.warning(
            "%s: %d rows not inserted: a BEFORE trigger on %s turned them away",
            flow.unit.file.path,
            flow.attempt.skipped,
            flow.unit.table.name,
        )


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
    try:
        with ctx.pool.connection() as pooled:
            return _run_on(pooled, unit, plan, reader, ctx, careful=careful, commits=True)
    except _CommitUnknownError as unknown:
        # The COMMIT went out and its reply was lost: the manifest says whether it landed.
        if ctx.retrier.call(
            lambda: _recorded_by_run(unit, ctx), what=f"checking {unit.file.path} landed"
        ):
            return unknown.attempt
        raise unknown.error from None


class _CommitUnknownError(Exception):
    """The connection broke during COMMIT: the unit may or may not have landed."""

    def __init__(self, attempt: Attempt, error: PgIngestError) -> None:
        super().__init__(error.describe())
        self.attempt, self.error = attempt, error


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
) -> Attempt:
    table = str(unit.table.name)
    committing = False
    try:
        with conn.transaction():
            stage = None
            if _needs_stage(unit):
                if unit.source.mode == "upsert":
                    require_unique_key(conn, unit.table.name, unit.source.key or [])
                stage = create_stage(conn, unit.table.name, [t.name for t in plan.targets])
            if unit.decision.action == "changed":
                _forget_earlier_load(conn, unit, plan)
            flow = Flow(
                unit, plan, reader, ctx, conn, careful, stage, RuleChecker(unit.source.rules)
            )
            flow.attempt.lacking = plan.lacking
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
            if overlaps_loaded(conn, decision=unit.decision, table_name=table):
                raise LoadedElsewhereError  # another run cut the file into other chunks
            record_loaded(
                conn,
                decision=unit.decision,
                table_name=table,
                rows=attempt.inserted + attempt.updated,
                rejected=len(attempt.rejects),
                run_id=ctx.run_id,
            )
            committing = commits
        ctx.metrics.record_stage("copy", start, ctx.metrics.now())
    except psycopg.OperationalError as exc:
        error = translate_db_error(exc, path=unit.file.path, table=table)
        if committing:
            raise _CommitUnknownError(attempt, error) from exc
        raise error from exc
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == MANIFEST_UNIQUE_INDEX:
            raise LoadedElsewhereError from exc
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc
    except psycopg.Error as exc:
        raise translate_db_error(exc, path=unit.file.path, table=table) from exc
    except PgIngestError as exc:
        raise exc.with_context(path=unit.file.path) from None
    return attempt
