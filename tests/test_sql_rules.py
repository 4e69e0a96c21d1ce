"""A validate rule's sql is one read-only expression: no injection shape changes anything else."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.summary import RunReport

# Each shape a rule may take to do more than check rows, and whether the file still
# loads (the text is a valid expression once its tail is a comment) or fails.
INJECTIONS = {
    "statement after the expression": ("v > 0; DROP TABLE canary", "fails"),
    "closing the wrapper": (
        "v > 0) IS FALSE; DROP TABLE canary; "
        "SELECT _pgingest_record FROM pg_temp.pgingest_stage WHERE (v > 0",
        "fails",
    ),
    "closing every parenthesis": ("v > 0)), true); DROP TABLE canary; --", "fails"),
    "line comment": ("v > 0 -- ; DROP TABLE canary", "loads"),
    "line comment, new line": ("v > 0 --\n)); DROP TABLE canary; --", "fails"),
    "block comments": ("v > 0 /* */; DROP TABLE canary; /* */", "fails"),
    "unterminated block comment": ("v > 0 /*", "fails"),
    "dollar quoting": ("$$a$$ = $$a$$; DROP TABLE canary; SELECT $$", "fails"),
    "unbalanced parentheses": ("(v > 0", "fails"),
    "transaction control": ("v > 0)), true); COMMIT; DROP TABLE canary; --", "fails"),
    "data-modifying WITH": ("(WITH d AS (DELETE FROM canary RETURNING 1) SELECT true)", "fails"),
    "DELETE in a subquery": ("v > 0 AND EXISTS (DELETE FROM canary RETURNING 1)", "fails"),
    "function that writes": ("v > 0 AND canary_delete()", "fails"),
    "turning read-only off": (
        "set_config('transaction_read_only', 'off', true) = 'off' AND canary_delete()",
        "fails",
    ),
    "sequence": ("nextval('canary_seq') > 0", "fails"),
    "settings are undone": ("set_config('search_path', 'nowhere', true) <> ''", "loads"),
}


@pytest.fixture
def canary(db: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    db.execute("CREATE TABLE canary (x int)")
    db.execute("INSERT INTO canary VALUES (1)")
    db.execute("CREATE SEQUENCE canary_seq")
    db.execute(
        "CREATE FUNCTION canary_delete() RETURNS boolean LANGUAGE sql VOLATILE "
        "AS 'DELETE FROM canary; SELECT true'"
    )
    db.execute("CREATE TABLE t (v int)")
    return db


def _run_rule(load: Callable[..., RunReport], tmp_path: Path, rule: str, **source: Any) -> Any:
    (tmp_path / "a.csv").write_text("v\n1\n2\n")
    validate = [{"sql": rule, "action": "fail"}]
    return load(
        {
            "sources": [
                {"name": "a", "paths": ["a.csv"], "table": "t", "validate": validate, **source}
            ]
        }
    )


@pytest.mark.parametrize(("rule", "outcome"), INJECTIONS.values(), ids=INJECTIONS.keys())
def test_a_rule_changes_nothing_but_its_verdict(
    canary: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    rule: str,
    outcome: str,
) -> None:
    report = _run_rule(load, tmp_path, rule)
    assert canary.execute("SELECT array_agg(x) FROM canary").fetchone() == ([1],)
    assert canary.execute("SELECT last_value, is_called FROM canary_seq").fetchone() == (1, False)
    loaded = canary.execute("SELECT count(*) FROM t").fetchone()
    if outcome == "loads":
        assert report.is_success, report.failed_files
        assert loaded == (2,)
    else:
        assert not report.is_success
        assert "is not valid SQL here" in report.failed_files[0].error
        assert loaded == (0,)


def test_an_upsert_after_a_rule_writes_as_usual(
    canary: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    canary.execute("ALTER TABLE t ADD PRIMARY KEY (v)")
    report = _run_rule(load, tmp_path, "v::text LIKE '%' AND v > 1", mode="upsert", key=["v"])
    assert not report.is_success  # v = 1 breaks the rule, whose action is fail
    report = _run_rule(load, tmp_path, "v::text LIKE '%' AND v > 0", mode="upsert", key=["v"])
    assert report.is_success, report.failed_files
    assert canary.execute("SELECT array_agg(v ORDER BY v) FROM t").fetchone() == ([1, 2],)
