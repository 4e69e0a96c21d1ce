"""``rescued_column``: fields the table lacks and values that fail conversion land in a jsonb column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
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
    return db.execute("SELECT id, born::text, name, _rescued FROM t ORDER BY id NULLS LAST").fetchall()


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
        tmp_path, database_url, {"paths": ["a.csv"], "rescued_column": "_rescued"},
        "--report", str(report),
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
