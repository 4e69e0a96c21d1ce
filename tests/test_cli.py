"""The command line: exit codes, one-line errors with a remedy, results read from PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import ROOT, write_config

runner = CliRunner()

EXAMPLE = ROOT / "examples" / "data_files.json"


def _invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def _events(folder: Path, rows: str = "1,a\n2,b\n") -> Path:
    (folder / "events.csv").write_text("id,name\n" + rows)
    return write_config(
        folder, {"sources": [{"name": "events", "paths": ["*.csv"], "table": "events"}]}
    )


def test_run_loads_and_prints_a_summary(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path)
    report = tmp_path / "report.json"
    result = _invoke("run", str(config), "--database-url", database_url, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "public.events" in result.output
    assert "1 loaded, 0 skipped, 0 failed; 2 rows" in result.output
    assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)
    data = json.loads(report.read_text())
    assert set(data) >= {
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
    assert data["files"] == {"attempted": 1, "succeeded": 1, "failed": 0, "skipped": 0}
    assert data["records"] == {
        "parsed": 2,
        "inserted": 2,
        "rejected": 0,
        "updated": 0,
        "duplicates": 0,
        "warned": 0,
        "rescued": 0,
        "skipped_by_trigger": 0,
    }
    assert data["tables"] == {"public.events": 2}
    assert {"discover", "parse", "encode", "copy"} <= set(data["stages"])


def test_rerun_skips_loaded_files(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path)
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0
    again = _invoke("run", str(config), "--database-url", database_url)
    assert again.exit_code == 0
    assert "0 loaded, 1 skipped, 0 failed" in again.output
    assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_database_url_flag_wins_over_environment(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path)
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}  # would be refused
    result = _invoke("run", str(config), "--database-url", database_url, env=env)
    assert result.exit_code == 0, result.output


def test_environment_wins_over_config(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    (tmp_path / "events.csv").write_text("id,name\n1,a\n")
    config = write_config(
        tmp_path,
        {
            "database_url": "postgresql://nobody@127.0.0.1:1/none",
            "sources": [{"name": "events", "paths": ["*.csv"], "table": "events"}],
        },
    )
    result = _invoke("run", str(config), env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output


def test_bad_value_is_rejected_and_the_rest_loads(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path, '1,a\n2,"two\nlines"\nthree,c\n')
    result = _invoke("run", str(config), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT id FROM events ORDER BY id").fetchall() == [(1,), (2,)]
    rejects = db.execute(
        "SELECT source, line, column_name, value, raw, error FROM pgingest.rejects"
    ).fetchall()
    assert len(rejects) == 1
    source, line, column, value, raw, error = rejects[0]
    assert (source, line, column, value, raw) == (
        str(tmp_path / "events.csv"),
        5,
        "id",
        "three",
        "three,c",
    )
    assert "three" in error


def test_bad_value_past_max_rejects_fails_the_file_with_line_and_column(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path, '1,a\n2,"two\nlines"\nthree,c\n')
    result = _invoke("run", str(config), "--database-url", database_url, "--max-rejects", "0")
    assert result.exit_code == 1
    assert "more than max_rejects (0)" in result.output
    assert "line 5" in result.output
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)  # all or nothing
    assert db.execute("SELECT line, value FROM pgingest.rejects").fetchall() == [(5, "three")]


def test_bad_config_exits_2_with_json_path(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"sources": [{"name": "a", "table": "t"}]})
    result = _invoke("run", str(config))
    assert result.exit_code == 2
    assert "sources[0].paths: field required" in result.output
    assert "Traceback" not in result.output


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = _invoke("run", str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    assert "config file not found" in result.output


def test_bad_option_exits_2(tmp_path: Path) -> None:
    config = _events(tmp_path)
    result = _invoke("run", str(config), "--workers", "0")
    assert result.exit_code == 2
    assert "--workers must be at least 1" in result.output


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    config = _events(tmp_path)
    result = _invoke(
        "run",
        str(config),
        "--database-url",
        "postgresql://u:s3cret@127.0.0.1:1/x",
        "--db-attempts",
        "1",
    )
    assert result.exit_code == 1
    assert "cannot connect to postgresql://u:***@127.0.0.1:1/x" in result.output
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


def test_missing_table_is_a_failed_file(database_url: str, tmp_path: Path) -> None:
    config = _events(tmp_path)
    result = _invoke("run", str(config), "--database-url", database_url)
    assert result.exit_code == 1
    assert "table public.events does not exist" in result.output
    assert '"create": true' in result.output


def test_plan_shows_files_and_touches_nothing(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path)
    result = _invoke("plan", str(config), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "events.csv" in result.output
    assert "load" in result.output
    assert "id bigint, name text" in result.output
    assert db.execute("SELECT to_regclass('pgingest.files')").fetchone() == (None,)


def test_plan_of_the_example(database_url: str) -> None:
    result = _invoke("plan", str(EXAMPLE), "--database-url", database_url)
    assert result.exit_code == 0, result.output
    for name in (
        "shop.customers",
        "shop.orders",
        "shop.products",
        "will be created",
        "customers.csv",
        "orders-2024-01.ndjson.gz",
        "products.parquet",
    ):
        assert name in result.output


def test_schema_prints_json_schema() -> None:
    result = _invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "pgingest data_files.json"


def test_log_level_must_be_known(tmp_path: Path) -> None:
    result = _invoke("run", str(_events(tmp_path)), env={"PGINGEST_LOG": "loud"})
    assert result.exit_code == 2
    assert "PGINGEST_LOG" in result.output


def test_python_dash_m_and_console_script(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path)
    env = {**os.environ, "DATABASE_URL": database_url}
    module = subprocess.run(
        [sys.executable, "-m", "pgingest", "run", str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    script = Path(sys.executable).parent / "pgingest"
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.startswith("pgingest ")


def test_rejects_are_listed_exported_fixed_and_loaded_again(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path, "1,a\nx2,b\n3,c\ny4,d\n")
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0
    listed = _invoke("rejects", str(config), "--database-url", database_url)
    assert listed.exit_code == 0
    assert "events.csv:3" in listed.output
    assert "x2" in listed.output
    fixed = tmp_path / "fixes" / "events-fixed.csv"
    fixed.parent.mkdir()
    exported = _invoke(
        "rejects",
        str(config),
        "--database-url",
        database_url,
        "--file",
        str(tmp_path / "events.csv"),
        "--export",
        str(fixed),
    )
    assert "wrote 2 rejected records" in exported.output
    assert fixed.read_text() == "id,name\nx2,b\ny4,d\n"
    fixed.write_text(fixed.read_text().replace("x2", "2").replace("y4", "4"))
    config = write_config(
        tmp_path,
        {"sources": [{"name": "events", "paths": ["*.csv", "fixes/*.csv"], "table": "events"}]},
    )
    again = _invoke("run", str(config), "--database-url", database_url)
    assert again.exit_code == 0
    assert "1 loaded, 1 skipped" in again.output
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM events").fetchone() == ([1, 2, 3, 4],)


def test_retry_failed_loads_only_the_files_that_failed(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    (tmp_path / "good.csv").write_text("id,name\n1,a\n")
    (tmp_path / "bad.csv").write_text("id,name\nx,b\n")
    config = write_config(
        tmp_path,
        {
            "settings": {"max_rejects": 0},
            "sources": [{"name": "events", "paths": ["*.csv"], "table": "events"}],
        },
    )
    first = _invoke("run", str(config), "--database-url", database_url)
    assert first.exit_code == 1
    (tmp_path / "bad.csv").write_text("id,name\n2,b\n")  # fixed
    (tmp_path / "new.csv").write_text("id,name\n3,c\n")  # not failed before: left for later
    again = _invoke("run", str(config), "--database-url", database_url, "--retry-failed")
    assert again.exit_code == 0, again.output
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM events").fetchone() == ([1, 2],)


def test_passwords_never_reach_logs_reports_or_the_database(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    config = _events(tmp_path)
    secret_url = psycopg.conninfo.make_conninfo(database_url, password="hunter2-secret")
    report = tmp_path / "report.json"
    result = _invoke(
        "run",
        str(config),
        "--database-url",
        secret_url,
        "--report",
        str(report),
        env={"PGINGEST_LOG": "debug"},
    )
    assert result.exit_code == 0, result.output
    assert "hunter2-secret" not in result.output
    assert "hunter2-secret" not in report.read_text()
    stored = db.execute("SELECT report::text FROM pgingest.runs").fetchall()
    assert stored
    assert all("hunter2-secret" not in row[0] for row in stored)
