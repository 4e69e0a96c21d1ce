"""Figures add up in every view: parsed = inserted + updated + duplicates + rejected.

One upsert run (1 new row, 2 existing rows updated, 1 duplicate key merged away,
1 rejected record, 1 row that broke a warn rule) checked in the terminal summary,
the ``--report`` JSON, ``pgingest.runs``, ``runs --json`` and the HTML page.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()

# parsed 6 = inserted 1 (id 3) + updated 2 (ids 1, 2) + duplicates 1 (id 3 twice) + rejected 2
PARSED, INSERTED, UPDATED, DUPLICATES, REJECTED, WARNED = 6, 1, 2, 1, 2, 1


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _upsert_run(db: psycopg.Connection[Any], database_url: str, folder: Path) -> Any:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, amount int, status text)")
    db.execute("INSERT INTO t VALUES (1, 10, 'old'), (2, 20, 'old')")
    (folder / "day.csv").write_text(
        "id,amount,status\n1,11,paid\n2,21,odd\n3,30,paid\n3,31,paid\nfour,40,paid\n5,-1,paid\n"
    )
    config = write_config(
        folder,
        {
            "sources": [
                {
                    "name": "t",
                    "paths": ["day.csv"],
                    "table": "t",
                    "mode": "upsert",
                    "key": ["id"],
                    "validate": [
                        {"column": "amount", "min": 0},
                        {"column": "status", "in": ["paid"], "action": "warn"},
                    ],
                }
            ]
        },
    )
    result = _invoke(
        "run", str(config), "--database-url", database_url, "--report", str(folder / "r.json")
    )
    assert result.exit_code == 0, result.output
    return config, result


def _adds_up(records: dict[str, Any]) -> None:
    assert records["parsed"] == PARSED
    assert (records["inserted"], records["updated"]) == (INSERTED, UPDATED)
    assert (records["duplicates"], records["rejected"]) == (DUPLICATES, REJECTED)
    assert records["parsed"] == (
        records["inserted"] + records["updated"] + records["duplicates"] + records["rejected"]
    )


def test_upsert_figures_add_up_in_every_view(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    config, result = _upsert_run(db, database_url, tmp_path)
    line = "6 parsed = 1 inserted + 2 updated + 1 duplicate + 2 rejected"
    assert line in result.output
    assert "warning: 1 row broke a warn rule and loaded" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    _adds_up(report["records"])
    assert report["records"]["warned"] == WARNED

    row = db.execute(
        "SELECT records_parsed, records_inserted, records_updated, records_duplicates, "
        "records_rejected, report->'records' FROM pgingest.runs"
    ).fetchone()
    assert row is not None
    assert row[:5] == (PARSED, INSERTED, UPDATED, DUPLICATES, REJECTED)
    _adds_up(row[5])

    runs = _invoke("runs", str(config), "--database-url", database_url, "--json")
    assert runs.exit_code == 0, runs.output
    _adds_up(json.loads(runs.stdout)[0]["records"])

    shown = _invoke("report", "-c", str(config), "--database-url", database_url)
    assert line in shown.output

    page = tmp_path / "run.html"
    written = _invoke(
        "report", "-c", str(config), "--database-url", database_url, "--html", str(page)
    )
    assert written.exit_code == 0, written.output
    card = r'<div class="value">([^<]*)</div><div class="name">records ([a-z]+)</div>'
    cards = {
        name: int(value.replace(",", ""))
        for value, name in re.findall(card, html.unescape(page.read_text()))
    }
    _adds_up(cards)
    assert cards["warned"] == WARNED
