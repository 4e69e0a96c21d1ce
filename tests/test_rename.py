"""``rename``: file column → table column, before matching and before create, in every format."""

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


def _run(folder: Path, database_url: str, source: dict[str, Any]) -> Any:
    config = write_config(folder, {"sources": [{"name": "s", "table": "t", **source}]})
    return runner.invoke(
        app, ["run", str(config), "--database-url", database_url], catch_exceptions=False
    )


def test_rename_loads_into_an_existing_table(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, customer_name text)")
    (tmp_path / "a.csv").write_text("id,Customer Name\n1,Ann\n2,Bob\n")
    result = _run(
        tmp_path, database_url, {"paths": ["a.csv"], "rename": {"Customer Name": "customer_name"}}
    )
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT id, customer_name FROM t ORDER BY id").fetchall() == [
        (1, "Ann"),
        (2, "Bob"),
    ]


def test_rename_with_create_in_every_format(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("ID,when\n1,2024-01-02\n")
    (tmp_path / "b.ndjson").write_text(json.dumps({"ID": 2, "when": "2024-02-03"}) + "\n")
    pq.write_table(
        pa.table({"ID": pa.array([3], pa.int64()), "when": pa.array(["2024-03-04"])}),
        tmp_path / "c.parquet",
    )
    source = {
        "paths": ["a.csv", "b.ndjson", "c.parquet"],
        "create": True,
        "rename": {"ID": "id", "when": "seen_on"},
        "columns": {"seen_on": "date"},
    }
    result = _run(tmp_path, database_url, source)
    assert result.exit_code == 0, result.output
    rows = db.execute("SELECT id, seen_on::text FROM t ORDER BY id").fetchall()
    assert rows == [(1, "2024-01-02"), (2, "2024-02-03"), (3, "2024-03-04")]
    columns = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't' "
        "ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [("id",), ("seen_on",)]


def test_a_rename_of_a_column_the_file_lacks_fails_the_file(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / "a.csv").write_text("id,name\n1,Ann\n")
    source = {"paths": ["a.csv"], "rename": {"Full Name": "name"}, "ignore_extra_columns": True}
    result = _run(tmp_path, database_url, source)
    assert result.exit_code == 1
    assert "rename names file column 'Full Name', which the file does not have" in result.output
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_two_renames_to_one_name_are_a_config_error(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"], "rename": {"a": "x", "b": "x"}})
    assert result.exit_code == 2
    assert "rename gives several file columns" in result.output
