"""Header names under ``create``: empty names become column_N, repeats get _2, _3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()


def _run(folder: Path, database_url: str, source: dict[str, Any]) -> Any:
    config = write_config(folder, {"sources": [{"name": "s", "table": "t", **source}]})
    return runner.invoke(
        app, ["run", str(config), "--database-url", database_url], catch_exceptions=False
    )


def _columns(db: psycopg.Connection[Any]) -> list[str]:
    rows = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't' "
        "ORDER BY ordinal_position"
    ).fetchall()
    return [name for (name,) in rows]


def test_empty_and_repeated_header_names_load_under_create(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,,name,name,name_2,\n1,x,a,b,c,y\n")
    result = _run(tmp_path, database_url, {"paths": ["*.csv"], "create": True})
    assert result.exit_code == 0, result.output
    assert result.output.count("header names changed: column 2 (no name) → 'column_2'") == 1
    assert "column 4 ('name' again) → 'name_3'" in result.output  # name_2 is taken
    assert _columns(db) == ["id", "column_2", "name", "name_3", "name_2", "column_6"]
    assert db.execute("SELECT * FROM t").fetchall() == [(1, "x", "a", "b", "c", "y")]
    # A later file with the same header loads into the table created from the first.
    (tmp_path / "b.csv").write_text("id,,name,name,name_2,\n2,x2,a2,b2,c2,y2\n")
    again = _run(tmp_path, database_url, {"paths": ["*.csv"], "create": True})
    assert again.exit_code == 0, again.output
    assert db.execute("SELECT name_3 FROM t ORDER BY id").fetchall() == [("b",), ("b2",)]


def test_tsv_header_names_under_create(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.tsv").write_text("id\tv\tv\n1\tp\tq\n")
    result = _run(tmp_path, database_url, {"paths": ["a.tsv"], "create": True})
    assert result.exit_code == 0, result.output
    assert _columns(db) == ["id", "v", "v_2"]


def test_without_create_a_repeated_name_still_fails_the_file(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    (tmp_path / "a.csv").write_text("id,v,v\n1,p,q\n")
    result = _run(tmp_path, database_url, {"paths": ["a.csv"]})
    assert result.exit_code == 1
    assert "the header names column 'v' twice" in result.output
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
