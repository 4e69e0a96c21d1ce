"""Spreadsheets with title rows above the table: excel.skip_rows, or the header row found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.parse.header_row import find_header
from tests.conftest import CORPORA, write_config

runner = CliRunner()

SKIP_ROWS = CORPORA / "frictionless-py" / "data" / "skip-rows.xlsx"  # "Table 1" above A, B


def _run(folder: Path, database_url: str, paths: list[str], **source: Any) -> dict[str, Any]:
    config = write_config(
        folder,
        {"sources": [{"name": "s", "paths": paths, "table": "t", "create": True, **source}]},
    )
    report = folder / "report.json"
    result = runner.invoke(
        app,
        ["run", str(config), "--database-url", database_url, "--report", str(report)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def _sheet(path: Path, rows: list[list[Any]]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def _columns(db: psycopg.Connection[Any]) -> list[str]:
    return [
        name
        for (name,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 't' "
            "ORDER BY ordinal_position"
        )
    ]


REPORT = [
    ["Quarterly sales by region"],
    ["Source: finance team", None, None, "2024-04-01"],
    [],
    ["region", "q1", "q2", "q3", "q4"],
    ["north", 10, 11, 12, 13],
    ["south", 20, 21, None, 23],
    ["east", 30, 31, 32, 33],
]


def test_title_rows_above_the_header_are_found_skipped_and_reported(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    _sheet(tmp_path / "sales.xlsx", REPORT)
    report = _run(tmp_path, database_url, ["sales.xlsx"])
    assert _columns(db) == ["region", "q1", "q2", "q3", "q4"]
    assert db.execute("SELECT region, q1, q3 FROM t ORDER BY q1").fetchall() == [
        ("north", 10, 12),
        ("south", 20, None),
        ("east", 30, 32),
    ]
    (note,) = [w for w in report["warnings"] if "header" in w]
    assert "row 4 is the header" in note
    assert "rows 1, 2 above it are skipped" in note
    assert '"skip_rows": 3' in note


def test_skip_rows_says_where_the_table_starts(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    _sheet(tmp_path / "sales.xlsx", REPORT)
    report = _run(tmp_path, database_url, ["sales.xlsx"], excel={"skip_rows": 3})
    assert _columns(db) == ["region", "q1", "q2", "q3", "q4"]
    assert db.execute("SELECT count(*) FROM t").fetchone() == (3,)
    assert not [w for w in report["warnings"] if "header" in w]  # nothing left to skip


def test_a_header_with_numbers_is_still_the_first_row(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    # Rows of text below a header of years: no row is taken for a title.
    _sheet(tmp_path / "years.xlsx", [["name", 2023, 2024], ["a", "x", "y"], ["b", "z", "w"]])
    report = _run(tmp_path, database_url, ["years.xlsx"])
    assert _columns(db) == ["name", "2023", "2024"]
    assert db.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert not [w for w in report["warnings"] if "header" in w]


@pytest.mark.skipif(not SKIP_ROWS.exists(), reason="../shared/corpora is absent")
def test_a_real_spreadsheet_with_a_title_row_loads_below_it(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    report = _run(tmp_path, database_url, [str(SKIP_ROWS)], columns={"A": "text", "B": "text"})
    assert _columns(db) == ["A", "B"]
    assert db.execute('SELECT "A", "B" FROM t ORDER BY "B"').fetchall() == [
        ("8", "9"),
        (None, "TOTAL"),
    ]
    assert any("row 2 is the header" in w for w in report["warnings"])


def test_the_rule_on_rows() -> None:
    def header_of(rows: list[list[Any]]) -> int | None:
        found = find_header(iter(enumerate(rows, start=1)))
        return None if found.header is None else found.header[0]

    assert header_of([["Title"], ["a", "b"], [1, 2]]) == 2
    assert header_of([["a", "b"], [1, 2]]) == 1
    assert header_of([["a", "a"], ["x", "y"], [1, 2]]) == 1  # repeated names: no header found
    assert header_of([["note", "more"], ["a", "b", "c"], [1, 2, 3]]) == 1  # too wide a title
    assert header_of([[], [None, ""], ["Title"], ["a", "b"], [1, 2, 3]]) == 3  # rows are wider
    assert header_of([[], [None]]) is None
