"""Rows staged for upsert (or for ``sql`` rules): the rules over them, then the merge."""

from __future__ import annotations

import psycopg

from pgingest.errors import LoadError
from pgingest.load.connect import translate_db_error
from pgingest.pipeline.unit.attempt import Attempt
from pgingest.store.rejects import Reject
from pgingest.validate import describe_rule

__all__ = ["merge_stage"]


def merge_stage(attempt: Attempt) -> None:
    """The staged rows through the sql rules, NULL keys set aside, then merged."""
    assert attempt.stage is not None
    _check_sql_rules(attempt)
    source = attempt.unit.source
    key = source.key if source.mode == "upsert" else None
    if key:
        _reject_null_keys(attempt, key)
    with attempt.context.metrics.stage("merge"):
        counts = attempt.stage.merge(key=key, limit=attempt.limit())
    tally = attempt.tally
    tally.inserted += counts.inserted
    tally.updated += counts.updated
    tally.duplicates += counts.duplicates
    tally.skipped += counts.skipped
    tally.rejects.extend(
        Reject(record=r.row, error=r.message, column=r.column, sqlstate=r.sqlstate)
        for r in counts.refused
    )
    attempt.check_limit()


def _reject_null_keys(attempt: Attempt, key: list[str]) -> None:
    """Rows whose upsert key is NULL set aside as rejects.

    A NULL key matches nothing, not even another NULL: such a row cannot be
    upserted, and DISTINCT ON would fold all of them into one.
    """
    assert attempt.stage is not None
    nulls = attempt.stage.null_keys(key)
    if not nulls:
        return
    attempt.stage.discard(nulls)
    names = ", ".join(key)
    attempt.tally.rejects.extend(
        Reject(record=r, error=f"the upsert key ({names}) is NULL", column=key[0]) for r in nulls
    )
    attempt.check_limit()


def _check_sql_rules(attempt: Attempt) -> None:
    """sql rules on the staged rows: reject (discard), fail (raise) or warn (count)."""
    assert attempt.stage is not None
    for rule in attempt.rules.rules:
        if rule.sql is None:
            continue
        with attempt.context.metrics.stage("validate"):
            try:
                broken = attempt.stage.check_sql_rule(rule.sql)
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
            raise attempt.rule_failure(description, broken[0])
        if rule.action == "warn":
            attempt.tally.warned += len(broken)
            continue
        attempt.stage.discard(broken)
        attempt.tally.rejects.extend(Reject(record=r, error=description) for r in broken)
        attempt.check_limit()
