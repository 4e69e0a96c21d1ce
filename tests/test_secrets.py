"""Passwords are never printed: not in errors, logs, reports, pgingest.runs or repr()."""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.config import parse_config
from pgingest.database import DatabaseTarget
from pgingest.executor.dask import WorkerSpec
from pgingest.log_setup import configure_logging, hide_in_logs
from pgingest.pipeline import RunOptions
from pgingest.redact import redact_text, redact_url
from tests.conftest import write_config

runner = CliRunner()

SECRET = "Sup3r-S3cret"

# Each spelling libpq accepts, with the secret where a user may write it.
SPELLINGS = {
    "uri": f"postgresql://postgres:{SECRET}@127.0.0.1:1/db",
    "uri, bad port": f"postgresql://postgres:{SECRET}@127.0.0.1:99999/db",
    "uri, unclosed IPv6 host": f"postgresql://postgres:{SECRET}@[::1:55433/r2",
    "uri, query parameter": f"postgresql://postgres@127.0.0.1:1/db?password={SECRET}",
    "uri, %-encoded": "postgresql://postgres:Sup3r%2DS3cret%40x@127.0.0.1:1/db",
    "uri, encoded key": f"postgresql://127.0.0.1:1/db?pass%77ord={SECRET}",
    "uri, sslpassword": f"postgresql://127.0.0.1:1/db?sslpassword={SECRET}",
    "keywords, oauth secret": f"host=127.0.0.1 port=1 oauth_client_secret={SECRET}",
    "uri, options": f"postgresql://127.0.0.1:1/db?options=-c%20app.key%3D{SECRET}",
    "keywords": f"host=127.0.0.1 port=1 password={SECRET}",
    "keywords, quoted with spaces": f"host=127.0.0.1 port=99999 password='{SECRET} with space'",
    "keywords, escaped quote": f"host=127.0.0.1 port=1 password='{SECRET}\\' b\\\\'",
    "keywords, options": f"host=127.0.0.1 port=1 options='-c app.key={SECRET}'",
    "keywords, unparseable": f"host=127.0.0.1 password='{SECRET}",
    "a bare word": SECRET,
}
# Parts of the secret a careless redaction leaves behind ("*** with space'").
FRAGMENTS = (SECRET, "Sup3r", "S3cret", "with space", "b\\\\")


def _shows_no_secret(text: str) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in text, text


@pytest.mark.parametrize("url", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_redacted_urls_keep_no_part_of_the_password(url: str) -> None:
    shown = redact_url(url)
    _shows_no_secret(shown)
    _shows_no_secret(redact_text(f"failed: {url} and {shown}", url))
    _shows_no_secret(repr(DatabaseTarget(url, "flag")))
    _shows_no_secret(str(DatabaseTarget(url, "flag")))
    _shows_no_secret(repr(RunOptions(database_url=url)))


def test_redacted_urls_still_say_where() -> None:
    assert redact_url(SPELLINGS["uri"]) == "postgresql://postgres:***@127.0.0.1:1/db"
    assert redact_url(SPELLINGS["uri, unclosed IPv6 host"]) == (
        "postgresql://postgres:***@[::1:55433/r2"
    )
    assert redact_url(SPELLINGS["uri, query parameter"]) == (
        "postgresql://postgres@127.0.0.1:1/db?password=***"
    )
    assert redact_url(SPELLINGS["keywords, quoted with spaces"]) == (
        "host=127.0.0.1 port=99999 password=***"
    )
    assert redact_url("postgresql://bob@db/x") == "postgresql://bob@db/x"


def test_what_carries_a_url_to_dask_workers_keeps_it_out_of_repr() -> None:
    assert {f.name: f.repr for f in fields(WorkerSpec)}["database_url"] is False


def test_the_config_repr_hides_its_url(tmp_path: Path) -> None:
    config = parse_config(
        {
            "database_url": SPELLINGS["uri"],
            "sources": [{"name": "a", "paths": ["a.csv"], "table": "t"}],
        },
        base_dir=tmp_path,
    )
    _shows_no_secret(repr(config))


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_never_show_a_password(
    log_format: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", "env-Sup3r-S3cret")
    configure_logging(logging.DEBUG, log_format="json" if log_format == "json" else "text")
    hide_in_logs(SPELLINGS["keywords, quoted with spaces"])
    logger = logging.getLogger("pgingest.test")
    logger.info("connecting to %s", SPELLINGS["uri"])
    logger.info("dsn %s", SPELLINGS["keywords, escaped quote"])
    logger.info("the password is %s with space, from env-Sup3r-S3cret", SECRET)
    logger.info("figures", extra={"target": SPELLINGS["uri, query parameter"]})
    quoted = SPELLINGS["keywords, quoted with spaces"]
    try:
        raise ValueError(f"bad {quoted}")
    except ValueError:
        logger.exception("failed")
    written = capsys.readouterr().err
    _shows_no_secret(written)
    assert "connecting to postgresql://" in written
    assert ":***@" in written
    if log_format == "json":
        assert all(json.loads(line) for line in written.splitlines() if line.startswith("{"))


def _run(config: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(
        app,
        ["run", str(config), "--database-url", url, "--db-attempts", "1", *extra],
        env=env,
        catch_exceptions=False,
    )


@pytest.mark.parametrize("url", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_a_failed_connection_never_prints_the_password(url: str, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    config = write_config(tmp_path, {"sources": [{"name": "a", "paths": ["a.csv"], "table": "t"}]})
    for flags in ((), ("-v",), ("-vv", "--log-format", "json")):
        result = _run(config, url, *flags)
        assert result.exit_code == 1, result.output
        assert "error:" in result.output or '"level": "error"' in result.output
        assert "internal error" not in result.output
        _shows_no_secret(result.output)


def test_the_environment_and_config_passwords_are_never_printed(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    config = write_config(
        tmp_path,
        {
            "database_url": f"host=127.0.0.1 port=1 password='{SECRET} with space'",
            "sources": [{"name": "a", "paths": ["a.csv"], "table": "t"}],
        },
    )
    env = {"PGPASSWORD": f"env-{SECRET}", "PGINGEST_LOG": "debug"}
    result = runner.invoke(app, ["run", str(config), "--db-attempts", "1"], env=env)
    assert result.exit_code == 1, result.output
    _shows_no_secret(result.output)
    env["DATABASE_URL"] = f"postgresql://postgres:{SECRET}@127.0.0.1:1/db"
    result = runner.invoke(app, ["run", str(config), "--db-attempts", "1"], env=env)
    assert result.exit_code == 1, result.output
    assert ":***@" in result.output
    _shows_no_secret(result.output)


def test_a_successful_run_keeps_the_password_out_of_everything(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    # The test server trusts its clients, so the password is sent and ignored.
    url = psycopg.conninfo.make_conninfo(database_url, password=f"{SECRET} with space")
    (tmp_path / "a.csv").write_text("id\n1\n")
    config = write_config(tmp_path, {"sources": [{"name": "a", "paths": ["a.csv"], "table": "t"}]})
    db.execute("CREATE TABLE t (id bigint)")
    report = tmp_path / "report.json"
    result = _run(config, url, "-vv", "--log-format", "json", "--report", str(report))
    assert result.exit_code == 0, result.output
    _shows_no_secret(result.output)
    _shows_no_secret(report.read_text())
    (stored,) = db.execute("SELECT report::text FROM pgingest.runs").fetchone() or ("",)
    _shows_no_secret(stored)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (1,)
