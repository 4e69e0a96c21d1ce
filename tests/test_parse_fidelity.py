"""Records read as PostgreSQL reads them: long records, long names, odd JSON text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pgingest.report.run_report import RunReport


def _source(path: str, table: str = "u", **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": [path], "table": table, **extra}]}


def test_a_record_longer_than_the_block_loads(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    big = "x" * 2_000_000
    quoted = "line\n" * 300_000
    text = f'id,v\n1,a\n2,{big}\n3,"{quoted}"\n4,"d,""e"""\nnot,ragged,row\n5,f\n'
    (tmp_path / "big.csv").write_text(text)
    db.execute("CREATE TABLE u (id integer, v text)")
    report = load(_source("big.csv"))
    assert report.failed_files == []
    assert db.execute("SELECT id, length(v) FROM u ORDER BY id").fetchall() == [
        (1, 1),
        (2, len(big)),
        (3, len(quoted)),
        (4, 5),
        (5, 1),
    ]
    assert db.execute("SELECT line FROM pgingest.rejects").fetchall() == [(300_006,)]


def test_a_long_first_record_and_create(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    big = "y" * 1_500_000
    (tmp_path / "first.csv").write_text(f"v,w\n{big},1\nb,2\n")
    assert load(_source("first.csv", create=True)).failed_files == []
    assert db.execute("SELECT length(v), w FROM u ORDER BY w").fetchall() == [
        (len(big), 1),
        (1, 2),
    ]
