"""Content changed behind the same size and modification time (cp -p, touch -r, rsync -t).

The stat shortcut cannot see it; ``"fingerprint": "content"`` hashes every
file on every run, and ``pgingest status --verify`` hashes loaded files again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
from typer.testing import CliRunner

from pgingest.cli import app
from tests.conftest import write_config


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _same_stat_change(path: Path) -> None:
    """New bytes of the same length, with the old modification time put back (touch -r)."""
    before = path.stat()
    path.write_text(path.read_text().replace("old", "new"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def _setup(db: psycopg.Connection[Any], folder: Path, **extra: Any) -> tuple[Path, Path]:
    db.execute("CREATE TABLE t (id int, name text)")
    data = folder / "a.csv"
    data.write_text("id,name\n1,old\n2,old\n")
    source = {"name": "s", "paths": ["a.csv"], "table": "t", **extra}
    return data, write_config(folder, {"sources": [source]})


def test_status_verify_finds_content_changed_behind_the_same_stat(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    data, config = _setup(db, tmp_path)
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0
    _same_stat_change(data)
    # The default stat shortcut takes the file as unchanged.
    quick = json.loads(
        _invoke("status", str(config), "--database-url", database_url, "--json").output
    )
    assert quick[0]["loaded"] == 1
    verified = _invoke("status", str(config), "--database-url", database_url, "--json", "--verify")
    [source] = json.loads(verified.output)
    assert (source["loaded"], source["changed"]) == (0, 1)
    [changed] = source["changed_files"]
    assert "content changed since it was loaded, with the same size" in changed["error"]
    text = " ".join(
        _invoke("status", str(config), "--database-url", database_url, "--verify").output.split()
    )
    assert "changed: " + str(data) + ": content changed since it was loaded" in text


def test_fingerprint_content_notices_the_change(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    data, config = _setup(db, tmp_path, fingerprint="content", on_change="skip")
    assert _invoke("run", str(config), "--database-url", database_url).exit_code == 0
    _same_stat_change(data)
    result = _invoke("run", str(config), "--database-url", database_url)
    assert result.exit_code == 0
    assert "1 skipped" in " ".join(result.output.split()) or "skipped" in result.output
    # With on_change: error (the default) the changed content is an error, not a silent skip.
    _setup_error = {
        "sources": [{"name": "s", "paths": ["a.csv"], "table": "t", "fingerprint": "content"}]
    }
    write_config(tmp_path, _setup_error)
    failed = _invoke("run", str(config), "--database-url", database_url)
    assert failed.exit_code == 1
    assert "the file changed since it was loaded" in " ".join(failed.output.split())
    assert db.execute("SELECT name, count(*) FROM t GROUP BY name").fetchall() == [("old", 2)]
