"""`pgingest report RUN --html FILE`: one self-contained page, rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.report.run_page import throughput_points
from tests.conftest import write_config

runner = CliRunner()

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PARTS = (
    "summary",
    "figures",
    "stage-chart",
    "throughput-chart",
    "bytes-chart",
    "table-chart",
    "table-list",
    "failed-list",
    "reject-summary",
    "reject-list",
)


def _page_of_a_failed_run(db: psycopg.Connection[Any], database_url: str, folder: Path) -> str:
    db.execute("CREATE TABLE events (id bigint, name text)")
    db.execute("CREATE TABLE notes (id bigint)")
    (folder / "events-1.csv").write_text("id,name\n1,a\n2,b\nthree,<script>c</script>\n")
    (folder / "events-2.csv").write_text("id,name,extra\n4,d,x\n")
    (folder / "notes.csv").write_text("id\n7\n")
    config = write_config(
        folder,
        {
            "sources": [
                {"name": "events", "paths": ["events-*.csv"], "table": "events"},
                {"name": "notes", "paths": ["notes.csv"], "table": "notes"},
            ]
        },
    )
    loaded = runner.invoke(app, ["run", str(config), "--database-url", database_url])
    assert loaded.exit_code == 1, loaded.output
    page = folder / "run.html"
    result = runner.invoke(
        app, ["report", "-c", str(config), "--database-url", database_url, "--html", str(page)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.output
    return page.read_text(encoding="utf-8")


def test_page_is_self_contained_and_escapes_what_it_shows(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    html = _page_of_a_failed_run(db, database_url, tmp_path)
    for part in PARTS:
        assert f'id="{part}"' in html, part
    # Nothing to fetch: no script, stylesheet, image or font from elsewhere.
    assert "<script" not in html
    assert not re.search(r"""(src|href)\s*=""", html)
    assert "@import" not in html
    assert "&lt;script&gt;c&lt;/script&gt;" in html  # a rejected value, shown as text
    assert "events-2.csv" in html
    assert "public.notes" in html


def test_throughput_points_are_rates_between_samples() -> None:
    timeline = [
        {"seconds": 0.0, "rows": 0, "bytes": 0, "files": 0},
        {"seconds": 2.0, "rows": 1000, "bytes": 4000, "files": 0},
        {"seconds": 3.0, "rows": 1500, "bytes": 5000, "files": 1},
    ]
    assert throughput_points(timeline, "rows") == [(0.0, 500.0), (2.0, 500.0), (3.0, 500.0)]
    assert throughput_points(timeline, "bytes") == [(0.0, 2000.0), (2.0, 2000.0), (3.0, 1000.0)]
    assert throughput_points(timeline[:1], "rows") == []


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)"
)
def test_chromium_renders_every_part_of_the_page(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    html = _page_of_a_failed_run(db, database_url, tmp_path)
    page = tmp_path / "run.html"
    assert page.read_text(encoding="utf-8") == html
    profile = tmp_path / "chromium-profile"
    shot = tmp_path / "run.png"
    common = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # The DOM Chromium built from the page holds every part, with the charts drawn.
    for part in PARTS:
        assert f'id="{part}"' in dom, part
    assert dom.count("<rect") >= 6  # stage and table bars
    assert "<polyline" in dom or "too short a run to draw" in dom
    assert "three" in dom
    assert "extra" in dom
    subprocess.run(
        [*common, "--window-size=1000,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a page with content, not a blank one
    shutil.rmtree(profile, ignore_errors=True)
