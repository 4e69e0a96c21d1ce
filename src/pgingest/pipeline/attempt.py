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
from pgingest.manifest import lock_for_replace, mark_replaced, record_loaded
from pgingest.match import UnitPlan
from pgingest.parse import SourceReader
from pgingest.pipeline.batches import copy_careful, copy_fast, rule_failure
from pgingest.pipeline.flow import (
    Attempt,
    Flow,
    LoadedElsewhereError,
    RetryCarefullyError,
    TooManyRejectsError,
    Unit,
    UnitContext,
)
from pgingest.report.rejects import Reject, write_rejects
from pgingest.validate import RuleChecker, describe_rule

logger = logging.getLogger(__name__)

__all__ = [
    "Attempt",
    "LoadedElsewhereError",
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
    """on_change: reload — the file's earlier rows go, in the transaction that loads it again."""
    lock_for_replace(conn, table_name=str(unit.table.name), path=unit.file.path)
    if plan.lineage is not None:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                unit.table.name.identifier, sql.Identifier(plan.lineage.name)
            ),
            (unit.file.path,),
        )
    mark_replaced(conn, table_name=str(unit.table.name), path=unit.file.path)


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
            flow = Flow(
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
