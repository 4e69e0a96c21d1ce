"""`pgingest runs`, `status` and `report`: what earlier runs left, read back from PostgreSQL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config

runner = CliRunner()

# The contract keys of DESIGN.md, and the figures issue 6 added beside them.
CONTRACT_KEYS = {
    "run_id",
    "started_at",
    "finished_at",
    "files",
    "records",
    "stages",
    "throughput_rows_per_sec",
    "failed_files",
    "tables",
}
FIGURE_KEYS = {
    "stages_wall",
    "throughput_mb_per_sec",
    "bytes_read",
    "batches",
    "retries",
    "peak_memory_bytes",
    "timeline",
    "seconds",
}


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _partly_failing(folder: Path) -> Path:
    """Two sources: events (one good file, one whose extra column the table lacks, one bad
    record) and notes (a file named but missing)."""
    (folder / "events-1.csv").write_text("id,name\n1,a\n2,b\nthree,c\n")
    (folder / "events-2.csv").write_text("id,name,extra\n4,d,x\n")
    return write_config(
        folder,
        {
            "sources": [
                {"name": "events", "paths": ["events-*.csv"], "table": "events"},
                {"name": "notes", "paths": ["notes.csv", "no-*.csv"], "table": "events"},
            ]
        },
    )


def test_status_after_a_partial_failure(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _partly_failing(tmp_path)
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 1
    (tmp_path / "events-3.csv").write_text("id,name\n5,e\n")  # new since the run
    result = _invoke("status", str(config), "--database-url", database_url, "--json")
    assert result.exit_code == 0, result.output
    events, notes = json.loads(result.stdout)
    assert events["source"] == "events"
    assert events["table"] == "public.events"
    assert (events["files"], events["loaded"], events["pending"], events["failed"]) == (3, 1, 1, 1)
    assert events["rows"] == 2
    assert events["rejects"] == 1  # `three` is not a bigint
    assert events["failed_files"][0]["path"] == str(tmp_path / "events-2.csv")
    assert "extra" in events["failed_files"][0]["error"]
    assert notes["missing"] == 1
    assert "notes.csv" in notes["failed_files"][0]["path"]

    # The table view says the same, with a remedy for the failed files.
    table = _invoke("status", str(config), "--database-url", database_url)
    assert table.exit_code == 0
    row = next(line for line in table.output.splitlines() if line.lstrip().startswith("events"))
    cells = [cell.strip() for cell in row.split("│")]
    # files, loaded, pending, failed, missing (a notes file is missing), rows, rejects
    assert cells[2:9] == ["3", "1", "1", "1", "0", "2", "1"]
    assert "pgingest run --retry-failed" in table.output
    assert "no-*.csv matches no files" in table.output

    # A loaded file that changed on disk since is `changed`, not `loaded`.
    good = tmp_path / "events-1.csv"
    os.utime(good, ns=(0, good.stat().st_mtime_ns + 10**9))
    changed = json.loads(
        _invoke("status", str(config), "--database-url", database_url, "--json").stdout
    )
    assert (changed[0]["loaded"], changed[0]["changed"]) == (0, 1)


def test_status_before_any_run_says_everything_is_pending(
    database_url: str, tmp_path: Path
) -> None:
    config = _partly_failing(tmp_path)
    result = _invoke("status", str(config), "--database-url", database_url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["pending"] == 2


def test_runs_lists_recent_runs_with_their_figures(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _partly_failing(tmp_path)
    assert _invoke("runs", str(config), "--database-url", database_url).output.strip() == (
        "no runs yet"
    )
    _invoke("run", str(config), "--database-url", database_url)
    _invoke("run", str(config), "--database-url", database_url)
    result = _invoke("runs", str(config), "--database-url", database_url, "--json")
    assert result.exit_code == 0, result.output
    latest, first = json.loads(result.stdout)
    assert first["status"] == "failed"
    assert first["files"] == {"attempted": 3, "succeeded": 1, "failed": 2, "skipped": 0}
    assert first["records"]["inserted"] == 2
    assert first["records"]["rejected"] == 1
    assert latest["files"]["skipped"] == 1  # the good file, loaded by the first run
    table = _invoke("runs", str(config), "--database-url", database_url)
    assert first["run_id"][:8] in table.output
    assert "failed" in table.output


def test_report_json_keys_in_the_file_and_in_pgingest_runs(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _partly_failing(tmp_path)
    written = tmp_path / "report.json"
    _invoke("run", str(config), "--database-url", database_url, "--report", str(written))
    data = json.loads(written.read_text())
    assert set(data) >= CONTRACT_KEYS | FIGURE_KEYS
    assert set(data["files"]) == {"attempted", "succeeded", "failed", "skipped"}
    assert {"parsed", "inserted", "updated", "rejected"} <= set(data["records"])
    assert data["records"]["updated"] == 0
    assert set(data["stages"]) >= {"discover", "parse", "encode", "copy", "validate", "merge"}
    assert set(data["retries"]) == {"file", "db", "careful"}
    assert data["retries"]["careful"] == 1  # the bad record sent events-1.csv round again
    assert data["batches"] == 1  # the careful read of events-1.csv (the fast one sent none)
    assert data["bytes_read"] == (tmp_path / "events-1.csv").stat().st_size
    assert data["peak_memory_bytes"] > 10 * 2**20
    assert data["timeline"][-1]["rows"] == 2
    assert {"seconds", "rows", "bytes", "files"} == set(data["timeline"][0])
    assert data["failed_files"][0].keys() >= {"path", "stage", "error"}

    stored = db.execute(
        "SELECT report, records_inserted, status FROM pgingest.runs WHERE run_id = %s",
        (data["run_id"],),
    ).fetchone()
    assert stored is not None
    assert stored[0] == data
    assert stored[1:] == (2, "failed")

    # `pgingest report --json` writes the same report back out of pgingest.runs.
    again = tmp_path / "again.json"
    result = _invoke(
        "report", data["run_id"][:8], "-c", str(config), "--database-url", database_url,
        "--json", str(again),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(again.read_text()) == data


def test_report_prints_a_runs_figures_and_names_bad_ids(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _partly_failing(tmp_path)
    missing = _invoke("report", "-c", str(config), "--database-url", database_url)
    assert missing.exit_code == 2
    assert "no pgingest runs yet" in missing.output
    _invoke("run", str(config), "--database-url", database_url)
    latest = _invoke("report", "-c", str(config), "--database-url", database_url)
    assert latest.exit_code == 0, latest.output
    assert "(failed)" in latest.output
    assert "records" in latest.output
    assert "3 parsed = 2 inserted + 0 updated + 0 duplicates + 1 rejected" in latest.output
    unknown = _invoke("report", "0000", "-c", str(config), "--database-url", database_url)
    assert unknown.exit_code == 2
    assert "no run '0000' in pgingest.runs" in unknown.output
    assert "pgingest runs" in unknown.output
    not_an_id = _invoke("report", "x'; --", "-c", str(config), "--database-url", database_url)
    assert not_an_id.exit_code == 2
    assert "is not a run id" in not_an_id.output
