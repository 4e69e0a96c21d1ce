"""The store: one existence check, one manifest query for many files, one stored-run shape."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.store.manifest import failed_paths, loaded_entries, look_up, record_failed
from pgingest.store.runs import find_run, read_runs
from pgingest.store.schema import ensure_schema, has_tables
from pgingest.summary import RunReport
from tests.conftest import write_config

runner = CliRunner()


def _manifest_row(
    db: psycopg.Connection[Any], table: str, path: str, status: str, part: str = ""
) -> None:
    db.execute(
        "INSERT INTO pgingest.files (path, fingerprint, size, modified_ns, table_name, rows,"
        " status, run_id, part) VALUES (%s, 'sha256:x', 1, 2, %s, 3, %s, %s, %s)",
        (path, table, status, uuid.uuid4(), part),
    )


def test_has_tables_before_and_after_the_first_run(db: psycopg.Connection[Any]) -> None:
    assert not has_tables(db, "runs")
    assert read_runs(db) == []
    ensure_schema(db)
    assert has_tables(db, "runs", "files", "rejects", "schema_version")
    assert not has_tables(db, "runs", "no_such_table")


def test_one_lookup_answers_as_the_per_table_queries_do(db: psycopg.Connection[Any]) -> None:
    ensure_schema(db)
    _manifest_row(db, "public.a", "/d/1.csv", "loaded")
    _manifest_row(db, "public.a", "/d/2.csv", "loaded")
    _manifest_row(db, "public.a", "/d/2.csv", "failed")  # its latest attempt failed
    _manifest_row(db, "public.b", "/d/1.csv", "loaded", part="bytes 0-10")
    _manifest_row(db, "public.b", "/d/1.csv", "loaded", part="bytes 10-20")
    _manifest_row(db, "public.b", "/d/3.csv", "replaced")
    candidates = {
        "public.a": ["/d/1.csv", "/d/2.csv", "/d/9.csv"],
        "public.b": ["/d/1.csv", "/d/3.csv"],
    }
    # The same path asked twice counts once.
    lookup = look_up(db, [*candidates.items(), ("public.a", ["/d/1.csv"])])
    for table, paths in candidates.items():
        assert lookup.entries(table, paths) == loaded_entries(db, table, paths)
        assert lookup.failed_paths(table, paths) == failed_paths(db, table, paths)
    assert sorted(lookup.entries("public.a", candidates["public.a"])) == ["/d/1.csv", "/d/2.csv"]
    assert len(lookup.entries("public.a", ["/d/1.csv"])["/d/1.csv"]) == 1
    assert {e.part for e in lookup.entries("public.b", ["/d/1.csv"])["/d/1.csv"]} == {
        "bytes 0-10",
        "bytes 10-20",
    }
    assert lookup.failed_paths("public.a", candidates["public.a"]) == {"/d/2.csv"}
    assert lookup.entries("public.b", ["/d/3.csv"]) == {}  # replaced rows no longer count


def test_a_failed_row_then_a_loaded_one_is_no_longer_failed(db: psycopg.Connection[Any]) -> None:
    ensure_schema(db)
    record_failed(
        db,
        path="/d/1.csv",
        fingerprint=None,
        table_name="public.a",
        source="a",
        stage="load",
        error="bad",
        run_id=uuid.uuid4(),
    )
    assert look_up(db, [("public.a", ["/d/1.csv"])]).failed == {("public.a", "/d/1.csv")}
    _manifest_row(db, "public.a", "/d/1.csv", "loaded")
    assert look_up(db, [("public.a", ["/d/1.csv"])]).failed == set()


def test_a_stored_run_is_its_report_in_every_view(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigint PRIMARY KEY, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,a\n1,b\n2,c\n")
    config = write_config(
        tmp_path,
        {
            "sources": [
                {
                    "name": "t",
                    "paths": ["a.csv"],
                    "table": "public.t",
                    "mode": "upsert",
                    "key": ["id"],
                    "validate": [{"column": "name", "in": ["a"], "action": "warn"}],
                }
            ]
        },
    )
    written = tmp_path / "report.json"
    result = runner.invoke(
        app, ["run", str(config), "--database-url", database_url, "--report", str(written)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(written.read_text())
    assert data["records"]["duplicates"] == 1
    assert data["records"]["warned"] == 2  # b and c are not in ["a"]
    listed = runner.invoke(app, ["runs", str(config), "--database-url", database_url, "--json"])
    assert listed.exit_code == 0, listed.output
    [run] = json.loads(listed.stdout)
    # `runs --json` is the report itself: every figure, duplicates and warned included.
    assert run == data
    stored = find_run(db, data["run_id"][:8])
    assert stored == RunReport.from_dict(data)
    assert stored.status == "succeeded"
    assert stored.config_path == str(config.resolve())
    [row] = db.execute("SELECT report FROM pgingest.runs").fetchall()
    assert row[0] == data


def test_a_run_with_no_end_reads_back_unfinished(db: psycopg.Connection[Any]) -> None:
    ensure_schema(db)
    run_id = uuid.uuid4()
    db.execute(
        "INSERT INTO pgingest.runs (run_id, started_at, status, records_parsed)"
        " VALUES (%s, now(), 'interrupted', 7)",
        (run_id,),
    )
    [run] = read_runs(db)
    assert not run.is_finished
    assert run.status == "interrupted"
    assert run.records_parsed == 7
    data = run.to_dict()
    assert data["finished_at"] is None
    assert data["status"] == "interrupted"
