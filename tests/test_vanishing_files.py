"""A file deleted between discovery and loading fails as `file not found`; the run goes on."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.summary import RunReport

run_module = importlib.import_module("pgingest.pipeline.run")


def _files(folder: Path) -> None:
    (folder / "a.csv").write_text("id,v\n1,a\n")
    (folder / "b.csv").write_text("id,v\n2,b\n")


def _config(create: bool) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": ["*.csv"], "table": "t", "create": create}]}


def _check(report: RunReport, db: psycopg.Connection[Any], tmp_path: Path) -> None:
    assert report.files_succeeded == 1
    [failed] = report.failed_files
    assert failed.path == str(tmp_path / "b.csv")
    assert "file not found" in failed.error
    assert "internal error" not in failed.error
    assert db.execute("SELECT id FROM t").fetchall() == [(1,)]
    assert db.execute(
        "SELECT path, status FROM pgingest.files WHERE status = 'failed'"
    ).fetchall() == [(str(tmp_path / "b.csv"), "failed")]


@pytest.mark.parametrize("create", [True, False])
def test_deleted_after_discovery(
    create: bool,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not create:
        db.execute("CREATE TABLE t (id bigint, v text)")
    _files(tmp_path)
    discover = run_module.discover_files

    def then_delete(*args: Any, **kwargs: Any) -> Any:
        found = discover(*args, **kwargs)
        os.remove(tmp_path / "b.csv")
        return found

    monkeypatch.setattr(run_module, "discover_files", then_delete)
    _check(load(_config(create)), db, tmp_path)


@pytest.mark.parametrize("create", [True, False])
def test_deleted_after_fingerprinting(
    create: bool,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not create:
        db.execute("CREATE TABLE t (id bigint, v text)")
    _files(tmp_path)
    run_jobs = run_module.run_jobs

    def delete_then_run(*args: Any, **kwargs: Any) -> Any:
        os.remove(tmp_path / "b.csv")
        return run_jobs(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_jobs", delete_then_run)
    _check(load(_config(create)), db, tmp_path)
