"""One source's problem stops only that source: the others load, and the run exits 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()


def test_a_type_conflict_widens_one_column_and_a_missing_table_fails_one_source(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,Created\n1,2024-01-02\n")
    (tmp_path / "b.csv").write_text("id,Created\n2,last week\n")
    (tmp_path / "c.csv").write_text("id\n3\n")
    (tmp_path / "d.csv").write_text("id\n4\n")
    config = write_config(
        tmp_path,
        {
            "sources": [
                {"name": "dated", "paths": ["a.csv", "b.csv"], "table": "dated", "create": True},
                {"name": "lost", "paths": ["c.csv"], "table": "nowhere"},
                {"name": "plain", "paths": ["d.csv"], "table": "plain", "create": True},
            ]
        },
    )
    result = runner.invoke(
        app,
        ["run", str(config), "--database-url", database_url, "--report", str(tmp_path / "r.json")],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "column 'Created' is date in" in result.output
    assert "the column is text" in result.output
    assert "table public.nowhere does not exist" in result.output
    assert db.execute('SELECT id, "Created" FROM dated ORDER BY id').fetchall() == [
        (1, "2024-01-02"),
        (2, "last week"),
    ]
    assert db.execute("SELECT id FROM plain").fetchall() == [(4,)]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["files"]["succeeded"], report["files"]["failed"]) == (3, 1)
    assert any("column 'Created' is date in" in w for w in report["warnings"])
