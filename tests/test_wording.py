"""Counts read as English: "1 file", "2 files", wherever the CLI prints them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()


def test_a_one_file_run_never_says_1_files(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "one.csv").write_text("id\n1\n")
    config = write_config(
        tmp_path,
        {"sources": [{"name": "s", "paths": ["one.csv"], "table": "t", "create": True}]},
    )
    result = runner.invoke(
        app,
        ["run", str(config), "--database-url", database_url],
        env={"PGINGEST_LOG": "info"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "load: started: 1 file," in result.output
    assert "1 file loaded" in result.output
    assert not re.search(r"\b1 (files|rows|columns)\b(?!/s)", result.output), result.output
    plan = runner.invoke(app, ["plan", str(config), "--database-url", database_url])
    assert plan.exit_code == 0, plan.output
    assert not re.search(r"\b1 files\b", plan.output), plan.output
    assert db.execute("SELECT count(*) FROM t").fetchone() == (1,)
