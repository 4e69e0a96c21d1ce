"""History without a config, `pgingest sql` and `pgingest psql`, on real PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import ROOT, rows, write_config

runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def _project(folder: Path, bad: str | None = None, url: str | None = None) -> Path:
    """A folder with a config loading three rows (and a rejected one, ``bad``) into its table."""
    folder.mkdir()
    rejected = f"{bad},too,many\n" if bad else ""
    (folder / "items.csv").write_text(f"id,name\n1,a\n2,b\n3,c\n{rejected}")
    data: dict[str, Any] = {
        "settings": {"max_reject_ratio": 1},
        "sources": [
            {
                "name": "items",
                "paths": ["items.csv"],
                "table": f"{folder.name}_items",
                "create": True,
            }
        ],
    }
    if url:
        data["database_url"] = url
    return write_config(folder, data)


@pytest.fixture
def two_projects(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Projects a and b, each run once into the test database; the shell in an empty folder."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    a = _project(tmp_path / "a", "4", url=database_url)
    b = _project(tmp_path / "b", "4")
    for config in (a, b):
        assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return a, b


def _run_ids(*args: str, env: dict[str, str] | None = None) -> list[str]:
    result = _invoke("runs", *args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return [run["run_id"] for run in json.loads(result.stdout)]


def test_runs_report_rejects_need_only_a_url(
    two_projects: tuple[Path, Path], database_url: str, db: psycopg.Connection[Any]
) -> None:
    a, b = two_projects
    everyone = _run_ids("--database-url", database_url)
    assert len(everyone) == 2
    assert _run_ids(env={"DATABASE_URL": database_url}) == everyone
    (a_run,) = rows(db, "SELECT run_id::text FROM pgingest.runs WHERE config_path = %s", str(a))
    assert _run_ids(str(a), "--database-url", database_url) == [a_run[0]]
    assert _run_ids(str(a), "--all", "--database-url", database_url) == everyone

    # `report` takes the config as an argument too, before or after the run id.
    for args in ((str(a),), (str(a), a_run[0][:8]), (a_run[0][:8], str(a)), ("-c", str(a))):
        shown = _invoke("report", *args, "--database-url", database_url)
        assert shown.exit_code == 0, shown.output
        assert f"run {a_run[0]}" in shown.stdout
    # b's run is not a's: with a's config it is not found; with --all it is.
    b_run = next(r for r in everyone if r != a_run[0])
    assert _invoke("report", str(a), b_run[:8], "--database-url", database_url).exit_code == 2
    assert _invoke("report", b_run, "--database-url", database_url).exit_code == 0

    of_a = _invoke("rejects", str(a), "--database-url", database_url)
    a_file, b_file = str(a.parent / "items.csv"), str(b.parent / "items.csv")
    assert a_file in of_a.stdout
    assert b_file not in of_a.stdout
    every = _invoke("rejects", "--database-url", database_url)
    assert a_file in every.stdout
    assert b_file in every.stdout


def test_history_in_the_config_folder_and_with_nothing(
    two_projects: tuple[Path, Path], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _b = two_projects
    lost = _invoke("runs")
    assert lost.exit_code == 2
    assert "--database-url" in lost.stderr
    assert "Traceback" not in lost.output
    # In a's folder, ./data_files.json names the database and limits the runs to a's.
    monkeypatch.chdir(a.parent)
    assert len(_run_ids()) == 1
    assert len(_run_ids("--all")) == 2


def test_sql_prints_rows_as_a_table_json_and_csv(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    config = _project(tmp_path / "p")
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0
    query = "SELECT id, name FROM p_items ORDER BY id"

    table = _invoke("sql", query, "--database-url", database_url)
    assert table.exit_code == 0, table.output
    assert "name" in table.stdout
    assert "(3 rows)" in table.stdout
    shown = _invoke(
        "sql", """SELECT '{"a": 1}'::jsonb AS j, NULL AS n""", "--database-url", database_url
    )
    assert '{"a": 1}' in shown.stdout
    assert "∅" in shown.stdout
    as_json = _invoke("sql", query, str(config), "--database-url", database_url, "--json")
    assert json.loads(as_json.stdout) == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 3, "name": "c"},
    ]
    as_csv = _invoke("sql", query, "--database-url", database_url, "--csv")
    assert as_csv.stdout == "id,name\n1,a\n2,b\n3,c\n"

    exact = _invoke(
        "sql",
        "SELECT 0.1000000000000000000001::numeric AS n, NULL AS nothing, '\\x00ff'::bytea AS b",
        "--database-url",
        database_url,
        "--json",
    )
    assert json.loads(exact.stdout) == [
        {"n": "0.1000000000000000000001", "nothing": None, "b": "AP8="}
    ]


def test_sql_errors_are_one_line_and_writes_need_write(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    config = _project(tmp_path / "p")
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0

    missing = _invoke("sql", "SELECT * FROM nowhere", "--database-url", database_url)
    assert missing.exit_code == 1
    assert "42P01" in missing.stderr
    assert "nowhere" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    refused = _invoke("sql", "DELETE FROM p_items", "--database-url", database_url)
    assert refused.exit_code == 1
    assert "--write" in refused.stderr
    assert rows(db, "SELECT count(*) FROM p_items") == [(3,)]

    deleted = _invoke(
        "sql", "DELETE FROM p_items WHERE id = 1", "--database-url", database_url, "--write"
    )
    assert deleted.exit_code == 0, deleted.output
    assert "DELETE 1" in deleted.stdout
    assert rows(db, "SELECT count(*) FROM p_items") == [(2,)]

    # Two statements are refused, and the first one's change is rolled back.
    two = _invoke("sql", "DELETE FROM p_items; SELECT 1", "--database-url", database_url, "--write")
    assert two.exit_code == 2
    assert "one statement" in two.stderr
    assert rows(db, "SELECT count(*) FROM p_items") == [(2,)]

    as_json_log = _invoke(
        "sql", "SELECT 1/0", "--database-url", database_url, "--log-format", "json"
    )
    assert as_json_log.exit_code == 1
    (line,) = as_json_log.stderr.strip().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert "22012" in entry["message"]


def _pgingest(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgingest", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_psql_gets_the_password_in_its_environment(tmp_path: Path, database_url: str) -> None:
    fake = tmp_path / "bin" / "psql"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "argv: $*"\necho "password: $PGPASSWORD"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with_password = make_conninfo(database_url, password="s3cret")
    env = {**os.environ, "PATH": str(fake.parent)}
    env.pop("DATABASE_URL", None)
    shown = _pgingest("psql", "--database-url", with_password, env=env)
    assert shown.returncode == 0, shown.stderr
    argv_line, password_line = shown.stdout.splitlines()
    assert "s3cret" not in argv_line
    assert str(conninfo_to_dict(database_url)["dbname"]) in argv_line
    assert password_line == "password: s3cret"

    env["PATH"] = str(tmp_path)  # no psql there
    missing = _pgingest("psql", "--database-url", database_url, env=env)
    assert missing.returncode == 2
    assert "install" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.skipif(
    not any((Path(p) / "psql").exists() for p in os.environ.get("PATH", "").split(os.pathsep)),
    reason="psql is not installed",
)
def test_psql_opens_the_right_database(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    answer = _pgingest(
        "psql", "--database-url", database_url, env=env, stdin="SELECT current_database();\n"
    )
    assert answer.returncode == 0, answer.stderr
    assert str(conninfo_to_dict(database_url)["dbname"]) in answer.stdout


def test_a_run_stopped_by_a_config_error_ends_failed(
    tmp_path: Path, database_url: str, db: psycopg.Connection[Any]
) -> None:
    (tmp_path / "t.csv").write_text("id\n1\n")
    config = write_config(
        tmp_path,
        {
            "sources": [
                {
                    "name": "t",
                    "paths": ["t.csv"],
                    "table": "t",
                    "create": True,
                    "columns": {"id": "nosuchtype"},
                }
            ]
        },
    )
    stopped = _invoke("run", str(config), "--database-url", database_url, "--log-format", "json")
    assert stopped.exit_code in (1, 2)
    assert "Traceback" not in stopped.output
    (line,) = stopped.stderr.strip().splitlines()[-1:]
    assert json.loads(line)["level"] == "error"
    assert rows(db, "SELECT status, finished_at IS NOT NULL FROM pgingest.runs") == [
        ("failed", True)
    ]
    listed = _invoke("runs", "--database-url", database_url)
    assert "unfinished" not in listed.stdout
    assert "running" not in listed.stdout
