"""ignore_extra_columns never loads rows of NULLs; table columns a file lacks are named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.summary import RunReport
from tests.conftest import write_config


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("other.csv", "x,y\n1,2\n3,4\n"),
        ("other.ndjson", '{"x": 1, "y": 2}\n{"x": 3, "y": 4}\n'),
        ("other.json", '[{"x": 1}, {"x": 3}]'),
    ],
)
def test_no_column_in_common_fails_the_file(
    name: str,
    content: str,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / name).write_text(content)
    source = {"name": "s", "paths": [name], "table": "t", "ignore_extra_columns": True}
    report = load({"sources": [source]})
    [failed] = report.failed_files
    assert "no column of the file matches a column of table public.t" in failed.error
    assert "'x'" in failed.error
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_table_columns_a_file_lacks_are_named_in_a_warning_and_the_report(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text, city text, zip text DEFAULT '00000')")
    (tmp_path / "a.csv").write_text("id,name,extra\n1,a,x\n")
    config = write_config(
        tmp_path,
        {
            "sources": [
                {"name": "s", "paths": ["a.csv"], "table": "t", "ignore_extra_columns": True}
            ]
        },
    )
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["run", str(config), "--database-url", database_url, "--report", str(report)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "the file has no column 'city', 'zip' of table public.t" in text
    [warning] = json.loads(report.read_text())["warnings"]
    assert "no column 'city', 'zip'" in warning
    assert db.execute("SELECT id, name, city, zip FROM t").fetchall() == [(1, "a", None, "00000")]
