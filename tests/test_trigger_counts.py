"""Rows a BEFORE trigger turns away (returns NULL) are counted as skipped, never as inserted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.summary import RunReport

# How a file reaches the table: one fast COPY, batch by batch (a bad value forces the
# careful path), through a staging table (an sql rule), or merged by key (upsert).
PATHS = {
    "fast copy": ({}, ""),
    "careful copy": ({}, "x\n"),
    "staged append": ({"validate": [{"sql": "id > 0"}]}, ""),
    "upsert": ({"mode": "upsert", "key": ["id"]}, ""),
}


@pytest.mark.parametrize(("source", "bad"), PATHS.values(), ids=PATHS.keys())
def test_rows_a_trigger_skips_are_not_counted_as_inserted(
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    source: dict[str, Any],
    bad: str,
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute(
        """
        CREATE FUNCTION skip_odd() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id % 2 = 1 THEN RETURN NULL; END IF;
            RETURN NEW;
        END $$
        """
    )
    db.execute(
        "CREATE TRIGGER skip_odd BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION skip_odd()"
    )
    (tmp_path / "a.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(1, 11)) + bad)
    report = load({"sources": [{"name": "a", "paths": ["a.csv"], "table": "t", **source}]})
    assert report.is_success, report.failed_files
    assert db.execute("SELECT count(*) FROM t").fetchone() == (5,)
    records = report.to_dict()["records"]
    assert records["inserted"] == 5
    assert records["skipped_by_trigger"] == 5
    assert records["duplicates"] == 0
    assert report.reconciliation["public.t"]["skipped_by_trigger"] == 5
    assert any("BEFORE trigger" in warning for warning in report.warnings)
    assert db.execute("SELECT rows FROM pgingest.files").fetchone() == (5,)


def test_an_all_key_upsert_tells_equal_rows_from_skipped_ones(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (2)")
    db.execute(
        "CREATE FUNCTION skip_odd() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.id % 2 = 1 THEN RETURN NULL; END IF; RETURN NEW; END $$"
    )
    db.execute(
        "CREATE TRIGGER skip_odd BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION skip_odd()"
    )
    (tmp_path / "a.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(1, 11)))
    source = {"name": "a", "paths": ["a.csv"], "table": "t", "mode": "upsert", "key": ["id"]}
    report = load({"sources": [source]})
    assert report.is_success, report.failed_files
    records = report.to_dict()["records"]
    assert (records["inserted"], records["duplicates"], records["skipped_by_trigger"]) == (4, 1, 5)
