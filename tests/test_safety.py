"""Regressions from a data-safety review: each case once lost, duplicated or changed rows."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pgingest.config import parse_config
from pgingest.pipeline import RunOptions, run
from pgingest.summary import RunReport


def _source(paths: list[str], **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": paths, "table": "t", **extra}]}


def _slow_row(db: psycopg.Connection[Any], table: str = "t") -> None:
    """A trigger that holds the insert of id 1 for a second, so two runs overlap."""
    db.execute(
        "CREATE FUNCTION slow_one() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.id = 1 THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$"
    )
    db.execute(
        f"CREATE TRIGGER slow BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION slow_one()"
    )


def _twice_at_once(config: dict[str, Any], tmp_path: Path, database_url: str) -> None:
    parsed = parse_config(config, base_dir=tmp_path)
    threads = [
        threading.Thread(target=run, args=(parsed, RunOptions(database_url=database_url)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_replaces_load_the_rows_once(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    _slow_row(db)
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n")
    _twice_at_once(_source(["a.csv"], mode="replace"), tmp_path, database_url)
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (2, 2)


def test_concurrent_reloads_of_a_changed_file_load_its_rows_once(
    db: psycopg.Connection[Any],
    database_url: str,
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    source = _source(["a.csv"], on_change="reload", file_column="loaded_from")
    db.execute("CREATE TABLE t (id int, name text, loaded_from text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n")
    load(source)
    _slow_row(db)
    (tmp_path / "a.csv").write_text("id,name\n1,A\n2,B\n3,C\n")
    _twice_at_once(source, tmp_path, database_url)
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (3, 3)


def test_a_missing_file_keeps_the_old_rows_of_a_replace(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n")
    (tmp_path / "b.csv").write_text("id,name\n2,b\n")
    load(_source(["a.csv", "b.csv"], mode="replace"))
    (tmp_path / "b.csv").unlink()
    (tmp_path / "a.csv").write_text("id,name\n1,changed\n")
    report = load(_source(["a.csv", "b.csv"], mode="replace"))
    assert report.files_failed == 2
    assert db.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "b")]


def test_replace_with_sql_rule_and_late_json_keys(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text, late text DEFAULT 'd')")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n-1,bad\n")
    (tmp_path / "b.csv").write_text("id,name\n2,b\n")
    lines = [json.dumps({"id": 10 + i, "name": "n"}) for i in range(1500)]
    (tmp_path / "c.ndjson").write_text("\n".join([*lines, json.dumps({"id": 9, "late": "x"})]))
    report = load(
        _source(["a.csv", "b.csv", "c.ndjson"], mode="replace", validate=[{"sql": "id > 0"}])
    )
    assert report.failed_files == [], report.failed_files
    assert report.records_rejected == 1
    assert db.execute("SELECT count(*) FROM t").fetchone() == (1503,)


def test_chunks_never_split_a_file_with_whole_file_promises(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    rows = "".join(f"{i},name {i}\n" for i in range(20_000)) + "oops,bad\n"
    (tmp_path / "big.csv").write_text("id,name\n" + rows)
    db.execute("CREATE TABLE t (id int, name text)")
    report = load({"settings": {"chunk_bytes": 64 << 10, "max_rejects": 0}, **_source(["big.csv"])})
    assert report.files_failed == 1
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)  # all or nothing


def test_a_record_with_two_bad_values_is_one_reject(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (a int, b int, c text)")
    (tmp_path / "a.csv").write_text("a,b,c\n1,2,x\nbad,bad,y\n3,4,z\n")
    report = load({"sources": [{"name": "s", "paths": ["a.csv"], "table": "t"}]})
    assert report.failed_files == []
    assert (report.records_inserted, report.records_rejected) == (2, 1)
    (error,) = db.execute("SELECT error FROM pgingest.rejects").fetchone() or ()
    assert "also bad: 'b'" in error


def test_rule_rejects_count_towards_max_rejects_in_fast_mode(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, v int)")
    (tmp_path / "a.csv").write_text("id,v\n1,5\n2,-1\n3,-2\n")
    report = load(
        {"settings": {"max_rejects": 0}, **_source(["a.csv"], validate=[{"column": "v", "min": 0}])}
    )
    assert report.files_failed == 1
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_trigger_error_rejects_only_its_row(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, v int)")
    db.execute(
        "CREATE FUNCTION check_v() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  IF NEW.v < 0 THEN\n    RAISE EXCEPTION 'negative v'\n"
        "      USING ERRCODE = 'check_violation';\n  END IF;\n  RETURN NEW;\nEND $$"
    )
    db.execute("CREATE TRIGGER check_v BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION check_v()")
    (tmp_path / "a.csv").write_text("id,v\n1,1\n2,-2\n3,3\n4,4\n5,5\n6,6\n")
    report = load(_source(["a.csv"]))
    assert report.records_rejected == 1
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM t").fetchone() == ([1, 3, 4, 5, 6],)


def test_out_of_range_floats_are_rejected_not_changed(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, d double precision, r real)")
    (tmp_path / "a.csv").write_text(
        "id,d,r\n1,1.5,1.5\n2,1e400,1\n3,1,1e39\n4,1e-400,1\n5,Infinity,-Infinity\n"
    )
    lines = [{"id": 6, "d": 2.5, "r": 2}, {"id": 7, "d": 1, "r": 1e39}]
    (tmp_path / "b.ndjson").write_text("\n".join(json.dumps(x) for x in lines))
    report = load(_source(["a.csv", "b.ndjson"]))
    assert report.failed_files == []
    assert report.records_rejected == 4
    assert db.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (5,), (6,)]
    assert db.execute("SELECT d, r FROM t WHERE id = 5").fetchone() == (float("inf"), float("-inf"))


def test_upsert_rows_without_a_key_are_rejected_not_folded(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (email text UNIQUE, name text)")
    (tmp_path / "a.csv").write_text("email,name\na@x,ann\n,alice\n,bob\n,carol\n")
    report = load(_source(["a.csv"], mode="upsert", key=["email"]))
    assert report.failed_files == []
    assert (report.records_inserted, report.records_rejected) == (1, 3)
    assert db.execute(
        "SELECT count(*) FROM pgingest.rejects WHERE error LIKE '%%is NULL'"
    ).fetchone() == (3,)
