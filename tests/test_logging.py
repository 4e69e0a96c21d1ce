"""Logging: the level from -v/-q or PGINGEST_LOG, JSON lines, and a library that adds no handler."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.errors import ConfigError
from pgingest.log_setup import JsonFormatter, log_level
from tests.conftest import write_config


def test_flags_win_over_the_environment() -> None:
    assert log_level(None) == logging.WARNING
    assert log_level("DEBUG") == logging.DEBUG
    assert log_level("error", verbose=1) == logging.INFO
    assert log_level("error", verbose=2) == logging.DEBUG
    assert log_level("debug", quiet=True) == logging.ERROR
    with pytest.raises(ConfigError, match="'loud' is not a log level"):
        log_level("loud")


def test_json_lines_carry_the_figures() -> None:
    record = logging.makeLogRecord(
        {
            "name": "pgingest.report.logs",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "discover: finished in %s",
            "args": ("0.1s",),
            "figures": {"files": 3},
            "stage": "discover",
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "discover: finished in 0.1s"
    assert line["level"] == "info"
    assert line["logger"] == "pgingest.report.logs"
    assert line["figures"] == {"files": 3}
    assert line["stage"] == "discover"
    assert line["time"].endswith("+00:00")


def test_verbose_json_run_logs_each_stage_start_and_end(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    (tmp_path / "events.csv").write_text("id,name\n1,a\n2,b\n")
    config = write_config(
        tmp_path, {"sources": [{"name": "e", "paths": ["*.csv"], "table": "events"}]}
    )
    result = CliRunner().invoke(
        app,
        ["run", str(config), "--database-url", database_url, "-v", "--log-format", "json"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    for stage in ("discover", "fingerprint"):
        assert f"{stage}: started" in messages
        finished = next(line for line in lines if line["message"].startswith(f"{stage}: finished"))
        assert finished["stage"] == stage
        assert "figures" in finished
    assert any(m.startswith("load: started: 1 file,") for m in messages)
    assert any(m.endswith("events.csv: loaded 2 rows in " + m.split(" in ")[-1]) for m in messages)
    done = next(line for line in lines if line["message"].startswith("load: finished"))
    assert done["figures"]["records"]["inserted"] == 2
    assert any(m.startswith("stages: discover") for m in messages)


def test_quiet_run_prints_nothing_but_errors(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    (tmp_path / "events.csv").write_text("id,name\n1,a\n")
    config = write_config(
        tmp_path, {"sources": [{"name": "e", "paths": ["*.csv", "none-*.csv"], "table": "events"}]}
    )
    result = CliRunner().invoke(app, ["run", str(config), "--database-url", database_url, "-q"])
    assert result.exit_code == 0
    assert result.output == ""


def test_the_library_configures_no_handler(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("id,name\n1,a\n")
    script = f"""
import logging, pathlib, pgingest
config = pgingest.parse_config(
    {{"sources": [{{"name": "e", "paths": ["*.csv"], "table": "events", "create": True}}]}},
    base_dir=pathlib.Path({str(tmp_path)!r}),
)
report = pgingest.run(config, pgingest.RunOptions(database_url={database_url!r}))
assert report.files_succeeded == 1, report
assert logging.getLogger("pgingest").handlers == []
assert logging.getLogger().handlers == []
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
