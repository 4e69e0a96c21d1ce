"""on_change: reload replaces exactly a changed file's earlier rows, or refuses, changing none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()
PEOPLE = 1000


def _people(folder: Path, suffix: str) -> Path:
    path = folder / "people.csv"
    path.write_text("id,name\n" + "".join(f"{i},{suffix}{i}\n" for i in range(PEOPLE)))
    return path


def _run(config: Path, database_url: str) -> Any:
    return runner.invoke(
        app, ["run", str(config), "--database-url", database_url], catch_exceptions=False
    )


def _source(**extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "people", "paths": ["people.csv"], "table": "people", **extra}]}


def _counts(db: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return db.execute("SELECT count(*), count(DISTINCT id) FROM people").fetchone() or ()


def test_reload_of_rows_loaded_before_the_lineage_column_is_refused(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """The reported case: 1,000 rows would become 2,000; the reload is refused instead."""
    db.execute("CREATE TABLE people (id int, name text)")
    path = _people(tmp_path, "old")
    assert _run(write_config(tmp_path, _source()), database_url).exit_code == 0
    # The user adds the column the error message asks for, and reload with lineage.
    db.execute("ALTER TABLE people ADD COLUMN src text")
    config = write_config(tmp_path, _source(on_change="reload", file_column="src"))
    _people(tmp_path, "new")
    os.utime(path, ns=(1, 1))
    result = _run(config, database_url)
    assert result.exit_code == 1, result.output
    assert "cannot reload" in result.output
    assert "1,000" in result.output
    assert "no file in 'src'" in result.output
    assert _counts(db) == (PEOPLE, PEOPLE)  # nothing changed
    assert db.execute("SELECT count(*) FROM people WHERE name LIKE 'old%'").fetchone() == (PEOPLE,)
    # Once the earlier rows are named, the reload replaces exactly them.
    db.execute("UPDATE people SET src = %s WHERE src IS NULL", (str(path),))
    assert _run(config, database_url).exit_code == 0
    assert _counts(db) == (PEOPLE, PEOPLE)
    assert db.execute("SELECT count(*) FROM people WHERE name LIKE 'new%'").fetchone() == (PEOPLE,)


def test_reload_replaces_exactly_the_files_rows(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE people (id int, name text, src text)")
    (tmp_path / "other.csv").write_text("id,name\n5000,keep\n")
    data = {
        "sources": [
            {
                "name": "people",
                "paths": ["people.csv", "other.csv"],
                "table": "people",
                "on_change": "reload",
                "file_column": "src",
            }
        ]
    }
    config = write_config(tmp_path, data)
    path = _people(tmp_path, "old")
    assert _run(config, database_url).exit_code == 0
    path.write_text("id,name\n1,changed\n2,changed\n")
    result = _run(config, database_url)
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT id, name FROM people ORDER BY id").fetchall() == [
        (1, "changed"),
        (2, "changed"),
        (5000, "keep"),
    ]
    statuses = db.execute(
        "SELECT status, rows FROM pgingest.files WHERE path = %s ORDER BY id", (str(path),)
    ).fetchall()
    assert statuses == [("replaced", PEOPLE), ("loaded", 2)]


def test_reload_refuses_when_rows_were_deleted_since(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE people (id int, name text, src text)")
    config = write_config(tmp_path, _source(on_change="reload", file_column="src"))
    path = _people(tmp_path, "old")
    assert _run(config, database_url).exit_code == 0
    db.execute("DELETE FROM people WHERE id < 10")
    path.write_text("id,name\n1,new\n")
    result = _run(config, database_url)
    assert result.exit_code == 1
    assert "cannot reload" in result.output
    assert _counts(db) == (PEOPLE - 10, PEOPLE - 10)
    assert db.execute(
        "SELECT status FROM pgingest.files WHERE path = %s AND status = 'loaded'", (str(path),)
    ).fetchall() == [("loaded",)]
