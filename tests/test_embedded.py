"""The embedded PostgreSQL: a run with no database URL anywhere starts, uses and reuses it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.embedded import embedded_data_dir, stop_embedded
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def example_copy(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "shop"
    shutil.copytree(ROOT / "examples", folder, ignore=shutil.ignore_patterns(".pgingest"))
    yield folder
    stop_embedded(folder)


def test_run_without_a_url_uses_the_embedded_database(
    example_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = str(example_copy / "data_files.json")
    first = runner.invoke(app, ["run", config], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "4 loaded, 0 skipped, 0 failed; 740 rows" in first.output
    assert "Loaded into the embedded PostgreSQL" in first.output
    assert f" psql {config}" in first.output  # the hint names a command that works as shown
    assert (embedded_data_dir(example_copy) / "PG_VERSION").exists()
    assert (example_copy / ".pgingest" / ".gitignore").read_text().endswith("*\n")

    url = runner.invoke(app, ["db-url", config]).output.strip()
    with psycopg.connect(url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM shop.customers), (SELECT count(*) FROM shop.orders),"
            " (SELECT count(*) FROM shop.products)"
        ).fetchone()
    assert counts == (200, 500, 40)

    # `pgingest sql` with only the config queries the same embedded database.
    counted = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM shop.orders", config, "--json"])
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout) == [{"n": 500}]

    again = runner.invoke(app, ["run", config], catch_exceptions=False)
    assert again.exit_code == 0
    assert "0 loaded, 4 skipped" in again.output
    assert " psql " not in again.output  # nothing loaded: no hint to look

    stopped = runner.invoke(app, ["db-stop", config])
    assert "stopped" in stopped.output
    assert not (embedded_data_dir(example_copy) / "postmaster.pid").exists()


def test_example_data_types(example_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = str(example_copy / "data_files.json")
    assert runner.invoke(app, ["run", config]).exit_code == 0
    url = runner.invoke(app, ["db-url", config]).output.strip()
    with psycopg.connect(url) as conn:
        zip_type, leading_zero = conn.execute(
            "SELECT pg_typeof(zip)::text, bool_or(zip LIKE '0%') FROM shop.customers GROUP BY 1"
        ).fetchone() or (None, None)
        assert zip_type == "text"
        order = conn.execute(
            "SELECT pg_typeof(items)::text, pg_typeof(tags)::text, pg_typeof(total)::text "
            "FROM shop.orders LIMIT 1"
        ).fetchone()
        assert order == ("jsonb", "text[]", "numeric")
    assert os.path.isdir(example_copy / ".pgingest")
    assert leading_zero in (True, False)
