"""One file reached by several paths loads once; `plan` says which paths were folded and why."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.summary import RunReport
from tests.conftest import write_config


def _aliases(folder: Path) -> Path:
    """real/a.csv, real/b.csv; link -> real; alias.csv -> real/a.csv; hard.csv is real/b.csv."""
    real = folder / "real"
    real.mkdir()
    (real / "a.csv").write_text("id\n1\n")
    (real / "b.csv").write_text("id\n2\n")
    (folder / "link").symlink_to(real, target_is_directory=True)
    (folder / "alias.csv").symlink_to(real / "a.csv")
    os.link(real / "b.csv", folder / "hard.csv")
    return real


PATTERNS = ["real/*.csv", "link/*.csv", "alias.csv", "hard.csv", "./real/../real/a.csv"]


def test_a_file_reached_by_several_paths_loads_once(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    real = _aliases(tmp_path)
    report = load({"sources": [{"name": "s", "paths": PATTERNS, "table": "t"}]})
    assert report.failed_files == []
    assert db.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    manifest = db.execute("SELECT path FROM pgingest.files ORDER BY path").fetchall()
    # Symlinks fold into the real path; of two hard links the first in sorted order stays.
    assert manifest == [(str(tmp_path / "hard.csv"),), (str(real / "a.csv"),)]
    assert sum("loaded once" in w for w in report.warnings) == 4  # link/a, link/b, alias, b


def test_plan_names_the_folded_paths(database_url: str, tmp_path: Path) -> None:
    _aliases(tmp_path)
    config = write_config(
        tmp_path, {"sources": [{"name": "s", "paths": PATTERNS, "table": "t", "create": True}]}
    )
    result = CliRunner().invoke(
        app, ["plan", str(config), "--database-url", database_url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "once: link/a.csv is real/a.csv (resolves to" in text
    assert "once: alias.csv is real/a.csv" in text
    assert "once: real/b.csv is hard.csv (the same file (device and inode) as a hard link)" in text
    assert "2 files, 2 to load" in text
