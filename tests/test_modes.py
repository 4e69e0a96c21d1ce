"""Validation rules, append/upsert/replace, reconciliation, schema creation and evolution."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.summary import RunReport


def _source(paths: list[str], **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": paths, "table": "t", **extra}]}


# --- rules ------------------------------------------------------------------------------

RULE_CASES = [
    ({"column": "name", "not_null": True}, "1,a\n2,\n3,c\n", 2),
    ({"column": "id", "unique": True}, "1,a\n2,b\n1,c\n", 3),
    ({"column": "price", "min": 0}, "1,a,5\n2,b,-1\n3,c,0\n", 2),
    ({"column": "price", "max": 10}, "1,a,5\n2,b,11\n3,c,10\n", 2),
    ({"column": "name", "in": ["a", "c"]}, "1,a\n2,b\n3,c\n", 2),
    ({"column": "name", "regex": "^[a-z]+$"}, "1,abc\n2,B2\n3,c\n", 2),
    ({"column": "name", "min_length": 2}, "1,ab\n2,b\n3,cd\n", 2),
    ({"column": "name", "max_length": 2}, "1,ab\n2,bcd\n3,cd\n", 2),
    ({"sql": "price IS NULL OR price < id * 10"}, "1,a,5\n2,b,50\n3,c,1\n", 2),
]


def _write_case(tmp_path: Path, rows: str) -> None:
    header = "id,name,price" if rows.split("\n", maxsplit=1)[0].count(",") == 2 else "id,name"
    (tmp_path / "a.csv").write_text(header + "\n" + rows)


@pytest.mark.parametrize(("rule", "rows", "bad_line"), RULE_CASES)
@pytest.mark.parametrize("action", ["reject", "fail", "warn"])
def test_every_rule_with_every_action(
    rule: dict[str, Any],
    rows: str,
    bad_line: int,
    action: str,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    db.execute("CREATE TABLE t (id int, name text, price numeric(6,2))")
    _write_case(tmp_path, rows)
    report = load(_source(["a.csv"], validate=[{**rule, "action": action}]))
    count = db.execute("SELECT count(*) FROM t").fetchone()
    if action == "fail":
        assert report.files_failed == 1
        assert "rule failed" in report.failed_files[0].error
        assert f":{bad_line + 1}" in report.failed_files[0].error  # file:line of the first bad row
        assert count == (0,)
    elif action == "warn":
        assert report.failed_files == []
        assert report.records_warned == 1
        assert count == (3,)
    else:
        assert report.failed_files == []
        assert report.records_rejected == 1
        assert count == (2,)
        (line, error) = db.execute("SELECT line, error FROM pgingest.rejects").fetchone() or ()
        assert line == bad_line + 1
        assert error.startswith("rule failed")


def test_rule_on_unknown_column_is_a_config_error(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n")
    report = load(_source(["a.csv"], validate=[{"column": "nope", "not_null": True}]))
    assert "names column 'nope'" in report.failed_files[0].error


def test_row_count_expectations(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n")
    assert "fewer than min_rows (3)" in load(_source(["a.csv"], min_rows=3)).failed_files[0].error
    assert "more than max_rows (1)" in load(_source(["a.csv"], max_rows=1)).failed_files[0].error
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


# --- upsert -----------------------------------------------------------------------------


def test_upsert_inserts_updates_and_the_last_duplicate_wins(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name text, note text DEFAULT 'kept')")
    (tmp_path / "day1.csv").write_text("id,name\n1,a\n2,b\n")
    report = load(_source(["day*.csv"], mode="upsert", key=["id"]))
    assert (report.records_inserted, report.records_updated) == (2, 0)
    db.execute("UPDATE t SET note = 'manual' WHERE id = 1")
    (tmp_path / "day2.csv").write_text("id,name\n1,A\n3,c\n3,C\n1,AA\n")
    report = load(_source(["day*.csv"], mode="upsert", key=["id"]))
    assert report.failed_files == []
    assert (report.records_inserted, report.records_updated) == (1, 1)
    assert report.records_duplicates == 2
    figures = report.reconciliation["public.t"]
    assert figures["parsed"] == 4
    assert figures["parsed"] == (
        figures["inserted"] + figures["updated"] + figures["duplicates"] + figures["rejected"]
    )
    assert db.execute("SELECT id, name, note FROM t ORDER BY id").fetchall() == [
        (1, "AA", "manual"),
        (2, "b", "kept"),
        (3, "C", "kept"),
    ]


def test_upsert_needs_a_unique_key_in_the_table(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n")
    error = load(_source(["a.csv"], mode="upsert", key=["id"])).failed_files[0].error
    assert "upsert needs a unique index on (id)" in error
    assert "CREATE UNIQUE INDEX ON public.t (id)" in error


def test_upsert_rejects_refused_rows_and_creates_the_key(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n")
    report = load(_source(["a.csv"], mode="upsert", key=["id"], create=True))
    assert report.failed_files == []
    db.execute("ALTER TABLE t ALTER COLUMN name SET NOT NULL")
    (tmp_path / "b.csv").write_text("id,name\n2,B\n3,\n4,d\n")
    report = load(_source(["*.csv"], mode="upsert", key=["id"]))
    assert report.failed_files == []
    assert report.records_rejected == 1
    assert db.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [
        (1, "a"),
        (2, "B"),
        (4, "d"),
    ]
    assert db.execute("SELECT line, sqlstate FROM pgingest.rejects").fetchall() == [(3, "23502")]


def test_staging_tables_never_outlive_their_unit(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n")
    (tmp_path / "b.csv").write_text("id,name\nx,a\n")
    load({**_source(["*.csv"], mode="upsert", key=["id"]), "settings": {"max_rejects": 0}})
    leftovers = db.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgingest_stage%%'"
    ).fetchone()
    assert leftovers == (0,)


# --- replace ----------------------------------------------------------------------------


def test_replace_swaps_contents_and_keeps_indexes_views_and_grants(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
    db.execute("CREATE INDEX t_name ON t (name)")
    db.execute("CREATE VIEW t_view AS SELECT count(*) AS n FROM t")
    db.execute("DROP ROLE IF EXISTS pgingest_reader")
    db.execute("CREATE ROLE pgingest_reader")
    db.execute("GRANT SELECT ON t TO pgingest_reader")
    db.execute("INSERT INTO t VALUES (100, 'old'), (101, 'old')")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n")
    (tmp_path / "b.csv").write_text("id,name\n3,c\n")
    report = load(_source(["*.csv"], mode="replace"))
    assert report.failed_files == []
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM t").fetchone() == ([1, 2, 3],)
    assert db.execute("SELECT n FROM t_view").fetchone() == (3,)
    assert db.execute("SELECT to_regclass('t_name') IS NOT NULL").fetchone() == (True,)
    assert db.execute(
        "SELECT has_table_privilege('pgingest_reader', 't', 'SELECT')"
    ).fetchone() == (True,)
    again = load(_source(["*.csv"], mode="replace"))
    assert (again.files_succeeded, again.files_skipped) == (0, 2)
    db.execute("DROP OWNED BY pgingest_reader")
    db.execute("DROP ROLE pgingest_reader")


def test_failed_replace_keeps_the_old_rows(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
    db.execute("INSERT INTO t VALUES (100, 'old')")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n")
    (tmp_path / "b.csv").write_text("id,name\nx,b\n")
    report = {**_source(["*.csv"], mode="replace"), "settings": {"max_rejects": 0}}
    result = load(report)
    assert result.files_failed == 2
    assert any("rolled back" in f.error for f in result.failed_files)
    assert db.execute("SELECT id FROM t").fetchall() == [(100,)]


def test_replace_under_concurrent_readers_is_never_empty_or_mixed(
    db: psycopg.Connection[Any],
    database_url: str,
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
    old_rows = 5000
    db.execute("INSERT INTO t SELECT g, 'old' FROM generate_series(1, %s) g", (old_rows,))
    lines = "".join(f"{i},new\n" for i in range(1, 20_001))
    (tmp_path / "a.csv").write_text("id,name\n" + lines)
    seen: set[tuple[int, tuple[str, ...]]] = set()
    stop = threading.Event()

    def reader() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*), array_agg(DISTINCT name ORDER BY name) FROM t"
                ).fetchone()
                assert row is not None
                seen.add((row[0], tuple(row[1] or ())))
                time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        report = load(_source(["a.csv"], mode="replace"))
    finally:
        stop.set()
        thread.join()
    assert report.failed_files == []
    assert seen <= {(old_rows, ("old",)), (20_000, ("new",))}


# --- schema -----------------------------------------------------------------------------


def test_evolve_adds_columns_that_appear_in_later_files(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,a\n")
    load(_source(["a.csv"], create=True))
    (tmp_path / "b.csv").write_text("id,name,score,seen\n2,b,1.5,2024-01-01\n")
    report = load(_source(["*.csv"], evolve="add_columns"))
    assert report.failed_files == []
    assert db.execute("SELECT id, score::text, seen::text FROM t ORDER BY id").fetchall() == [
        (1, None, None),
        (2, "1.5", "2024-01-01"),
    ]


def test_type_conflict_between_files_widens_to_text(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,code\n1,42\n")
    (tmp_path / "b.csv").write_text("id,code\n2,2024-01-01\n")
    report = load(_source(["*.csv"], create=True))
    assert report.failed_files == []
    (warning,) = [w for w in report.warnings if "column 'code'" in w]
    assert "column 'code' is bigint in" in warning
    assert "a.csv" in warning
    assert "b.csv" in warning
    assert '"columns": {"code": "bigint"}' in warning
    assert db.execute("SELECT code FROM t ORDER BY id").fetchall() == [("42",), ("2024-01-01",)]
