"""``rescued_column``: fields the table lacks and values that fail conversion kept as jsonb."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()

TABLE = "CREATE TABLE t (id int, born date, name varchar(5), _rescued jsonb)"


def _run(folder: Path, database_url: str, source: dict[str, Any], *extra: str) -> Any:
    config = write_config(folder, {"sources": [{"name": "s", "table": "t", **source}]})
    return runner.invoke(
        app,
        ["run", str(config), "--database-url", database_url, *extra],
        catch_exceptions=False,
    )


def _rows(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT id, born::text, name, _rescued FROM t ORDER BY id NULLS LAST"
    ).fetchall()


def test_csv_extra_field_bad_date_bad_integer_and_long_text_are_rescued(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    path = tmp_path / "a.csv"
    path.write_text(
        "id,born,name,city\n"
        "1,2024-01-02,Ann,Oslo\n"
        "2,2024-02-30,Bob,\n"
        "x3,2024-03-04,Cy,\n"
        "4,2024-04-05,Dorothea,\n"
        "5,2024-05-06,Eve,\n"
    )
    report = tmp_path / "report.json"
    result = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "_rescued"},
        "--report",
        str(report),
    )
    assert result.exit_code == 0, result.output
    file = str(path)
    assert _rows(db) == [
        (1, "2024-01-02", "Ann", {"city": "Oslo", "_file_path": file}),
        (2, None, "Bob", {"born": "2024-02-30", "_file_path": file}),
        (4, "2024-04-05", None, {"name": "Dorothea", "_file_path": file}),
        (5, "2024-05-06", "Eve", None),
        (None, "2024-03-04", "Cy", {"id": "x3", "_file_path": file}),
    ]
    records = json.loads(report.read_text())["records"]
    assert records["parsed"] == 5
    assert records["inserted"] == 5
    assert records["rejected"] == 0
    assert records["rescued"] == 4
    assert "4 rescued" in result.output


def test_json_extra_fields_and_bad_values_are_rescued_as_raw_text(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    path = tmp_path / "a.ndjson"
    lines = [
        {"id": 1, "born": "2024-01-02", "name": "Ann", "tags": ["a", 1], "n": 7},
        {"id": "two", "born": "not a date", "name": "Bob"},
        {"id": 3, "born": "2024-03-04", "name": "Cy"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = _run(tmp_path, database_url, {"paths": ["a.ndjson"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    file = str(path)
    assert _rows(db) == [
        (1, "2024-01-02", "Ann", {"tags": '["a", 1]', "n": "7", "_file_path": file}),
        (3, "2024-03-04", "Cy", None),
        (None, None, "Bob", {"id": "two", "born": "not a date", "_file_path": file}),
    ]


def test_a_file_without_problems_leaves_the_column_null_and_counts_none(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    (tmp_path / "a.csv").write_text("id,born,name\n1,2024-01-02,Ann\n2,,Bob\n")
    report = tmp_path / "report.json"
    result = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "_rescued"},
        "--report",
        str(report),
    )
    assert result.exit_code == 0, result.output
    assert _rows(db) == [(1, "2024-01-02", "Ann", None), (2, None, "Bob", None)]
    assert json.loads(report.read_text())["records"]["rescued"] == 0
    assert "rescued" not in result.output


def test_a_field_matching_a_column_twice_or_named_like_the_rescued_column_is_rescued(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    path = tmp_path / "a.csv"
    path.write_text("id,name,NAME,_rescued\n1,Ann,ANN,{}\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    assert _rows(db) == [
        (1, None, "Ann", {"NAME": "ANN", "_rescued": "{}", "_file_path": str(path)})
    ]


def test_case_mismatched_names_still_load_into_their_column(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    (tmp_path / "a.csv").write_text("ID,Name\n1,Ann\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    assert _rows(db) == [(1, None, "Ann", None)]


def test_row_level_problems_still_reject(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE t (id int NOT NULL, born date, name varchar(5) CHECK (name <> 'bad'), "
        "_rescued jsonb)"
    )
    (tmp_path / "a.csv").write_text(
        "id,born,name\n"
        "x1,2024-01-02,Ann\n"  # bad value in a NOT NULL column: NULL cannot load, rejected
        "2,2024-01-02,bad\n"  # CHECK violation: rejected
        "3,2024-01-02\n"  # wrong field count: rejected
        "4,2024-13-01,Dan\n"  # bad date: rescued
    )
    result = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "_rescued", "max_reject_ratio": 1},
    )
    assert result.exit_code == 0, result.output
    assert _rows(db) == [
        (4, None, "Dan", {"born": "2024-13-01", "_file_path": str(tmp_path / "a.csv")})
    ]
    rejects = db.execute("SELECT line, error FROM pgingest.rejects ORDER BY line").fetchall()
    assert [line for line, _ in rejects] == [2, 3, 4]
    assert "x1" in rejects[0][1] or "integer" in rejects[0][1]


def test_values_the_server_refuses_are_rescued(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, seen timestamptz, _rescued jsonb)")
    path = tmp_path / "a.csv"
    # Not canonical ISO texts: pgingest asks the server to read them; it refuses the second.
    path.write_text("id,seen\n1,Jan 5 2024 10:00 UTC\n2,Jan 35 2024 10:00 UTC\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    rows = db.execute("SELECT id, seen IS NULL, _rescued FROM t ORDER BY id").fetchall()
    assert rows == [
        (1, False, None),
        (2, True, {"seen": "Jan 35 2024 10:00 UTC", "_file_path": str(path)}),
    ]


def test_create_true_makes_the_rescued_column_jsonb(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,born\n1,2024-01-02\n")
    result = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "_rescued", "create": True},
    )
    assert result.exit_code == 0, result.output
    types = db.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't' "
        "ORDER BY ordinal_position"
    ).fetchall()
    assert types[-1] == ("_rescued", "jsonb")


def test_create_true_adds_the_rescued_column_to_an_existing_table(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    path = tmp_path / "a.csv"
    path.write_text("id,extra\n1,x\n")
    result = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "_rescued", "create": True},
    )
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT id, _rescued FROM t").fetchall() == [
        (1, {"extra": "x", "_file_path": str(path)})
    ]


def test_a_missing_or_non_jsonb_rescued_column_fails_the_file_clearly(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, notes text)")
    (tmp_path / "a.csv").write_text("id\n1\n")
    missing = _run(tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "_rescued"})
    assert missing.exit_code == 1
    assert "table public.t has no column '_rescued' (the source's rescued_column)" in (
        " ".join(missing.output.split())
    )
    wrong = _run(tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "notes"})
    assert wrong.exit_code == 1
    assert "rescued_column 'notes' of table public.t is text; it must be jsonb" in (
        " ".join(wrong.output.split())
    )
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_conflicting_settings_are_config_errors(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    both = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "r", "ignore_extra_columns": True},
    )
    assert both.exit_code == 2
    assert "set only one of them" in both.output
    typed = _run(
        tmp_path,
        database_url,
        {"paths": ["a.csv"], "rescued_column": "r", "columns": {"r": "text"}},
    )
    assert typed.exit_code == 2
    assert "it must be jsonb" in typed.output


def test_runs_json_and_the_stored_run_count_rescued_rows(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    (tmp_path / "a.csv").write_text("id,born,name\n1,2024-99-99,Ann\n2,2024-01-01,Bob\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    runs = runner.invoke(app, ["runs", "--json", "--database-url", database_url])
    assert runs.exit_code == 0, runs.output
    listed = json.loads(runs.output)
    run = listed[0] if isinstance(listed, list) else listed["runs"][0]
    records = run["records"]
    assert records["rescued"] == 1
    assert (
        records["parsed"]
        == records["inserted"] + records["updated"] + records["duplicates"] + records["rejected"]
    )


def test_without_rescued_column_a_bad_value_still_rejects(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute(TABLE)
    (tmp_path / "a.csv").write_text("id,born,name\n1,2024-99-99,Ann\n2,2024-01-01,Bob\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"], "max_reject_ratio": 1})
    assert result.exit_code == 0, result.output
    assert _rows(db) == [(2, "2024-01-01", "Bob", None)]
    assert db.execute("SELECT count(*) FROM pgingest.rejects").fetchone() == (1,)


def test_rescued_values_are_not_rejects_for_max_rejects_and_upsert_keeps_them(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, born date, name varchar(5), _rescued jsonb)")
    db.execute("INSERT INTO t VALUES (1, '2000-01-01', 'Old', NULL)")
    path = tmp_path / "a.csv"
    path.write_text("id,born,name\n1,2024-99-99,Ann\n2,bad,Bob\n3,worse,Cy\n")
    config = write_config(
        tmp_path,
        {
            "settings": {"max_rejects": 0},
            "sources": [
                {
                    "name": "s",
                    "table": "t",
                    "paths": ["a.csv"],
                    "mode": "upsert",
                    "key": ["id"],
                    "rescued_column": "_rescued",
                }
            ],
        },
    )
    report = tmp_path / "report.json"
    result = runner.invoke(
        app, ["run", str(config), "--database-url", database_url, "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert _rows(db) == [
        (1, None, "Ann", {"born": "2024-99-99", "_file_path": str(path)}),
        (2, None, "Bob", {"born": "bad", "_file_path": str(path)}),
        (3, None, "Cy", {"born": "worse", "_file_path": str(path)}),
    ]
    records = json.loads(report.read_text())["records"]
    assert (records["inserted"], records["updated"], records["rescued"]) == (2, 1, 3)
    assert records["parsed"] == records["inserted"] + records["updated"] + records["rejected"]


def test_parquet_extra_columns_keep_their_text_nested_ones_their_json(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, born date, _rescued jsonb)")
    path = tmp_path / "a.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2]),
            "extra": pa.array([5, None]),
            "tags": pa.array([[1, 2], None]),
            "born": pa.array(["2024-01-01", "bad"]),
        }
    )
    pq.write_table(table, path)
    result = _run(tmp_path, database_url, {"paths": ["a.parquet"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT id, born::text, _rescued FROM t ORDER BY id").fetchall() == [
        (1, "2024-01-01", {"extra": "5", "tags": "[1, 2]", "_file_path": str(path)}),
        (2, None, {"born": "bad", "_file_path": str(path)}),
    ]


def test_extra_texts_with_quotes_backslashes_and_control_characters_are_exact(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, _rescued jsonb)")
    path = tmp_path / "a.ndjson"
    texts = ['say "hi"', "back\\slash", "line\nbreak\ttab", "bell\x07", "café ☕", ""]
    path.write_text("".join(json.dumps({"id": i, "note": t}) + "\n" for i, t in enumerate(texts)))
    result = _run(tmp_path, database_url, {"paths": ["a.ndjson"], "rescued_column": "_rescued"})
    assert result.exit_code == 0, result.output
    rows = db.execute("SELECT _rescued ->> 'note' FROM t ORDER BY id").fetchall()
    assert [r[0] for r in rows] == texts
