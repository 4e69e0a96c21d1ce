"""Loading: all or nothing per file, the manifest, defaults, column matching, batch sizes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgingest.summary import RunReport


def _source(**extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "t", "paths": ["*.csv"], "table": "t", **extra}]}


def test_rows_the_server_refuses_are_rejected_and_the_rest_load(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name varchar(3) NOT NULL CHECK (name <> 'no'))")
    rows = "".join(f"{i},ok\n" for i in range(1, 20))
    rows += '20,"too\nlong"\n21,\n5,dup\n22,no\n23,ok\n'
    (tmp_path / "a.csv").write_text("id,name\n" + rows)
    report = load({**_source(), "settings": {"batch_size": 7}})
    assert report.failed_files == []
    assert report.records_inserted == 20
    assert report.records_rejected == 4
    assert db.execute("SELECT count(*) FROM t").fetchone() == (20,)
    rejects = db.execute(
        "SELECT line, sqlstate, column_name, raw FROM pgingest.rejects ORDER BY line"
    ).fetchall()
    assert [(r[0], r[1]) for r in rejects] == [
        (21, "22001"),
        (23, "23502"),
        (24, "23505"),
        (25, "23514"),
    ]
    assert rejects[0][3] == '20,"too\nlong"'
    assert rejects[1][2] == "name"


def test_server_refusals_past_max_rejects_fail_the_file(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name varchar(3) NOT NULL)")
    rows = "".join(f"{i},ok\n" for i in range(1, 20)) + '20,"too\nlong"\n'
    (tmp_path / "a.csv").write_text("id,name\n" + rows)
    report = load({**_source(), "settings": {"batch_size": 7, "max_rejects": 0}})
    assert report.files_failed == 1
    (failed,) = report.failed_files
    assert failed.stage == "validate"
    assert "line 21" in failed.error
    assert "value too long" in failed.error
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert db.execute("SELECT status, stage FROM pgingest.files").fetchall() == [
        ("failed", "validate")
    ]
    assert db.execute("SELECT line FROM pgingest.rejects").fetchall() == [(21,)]


def test_other_files_still_load_when_one_fails(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    (tmp_path / "good.csv").write_text("id\n1\n2\n")
    (tmp_path / "bad.csv").write_text("id\nx\n")
    report = load({**_source(), "settings": {"max_rejects": 0}})
    assert (report.files_succeeded, report.files_failed) == (1, 1)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_missing_columns_get_defaults_and_names_match_case_insensitively(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id bigserial, name text, loaded boolean DEFAULT true)")
    (tmp_path / "a.csv").write_text("NAME\nalice\nbob\n")
    report = load(_source())
    assert report.failed_files == []
    assert db.execute("SELECT id, name, loaded FROM t ORDER BY id").fetchall() == [
        (1, "alice", True),
        (2, "bob", True),
    ]


def test_extra_file_column_is_an_error_unless_ignored(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    (tmp_path / "a.csv").write_text("id,surprise\n1,x\n")
    report = load(_source())
    assert "file column 'surprise' not in table public.t" in report.failed_files[0].error
    assert "ignore_extra_columns" in report.failed_files[0].error
    db.execute("DROP SCHEMA pgingest CASCADE")
    report = load(_source(ignore_extra_columns=True))
    assert report.failed_files == []
    assert db.execute("SELECT id FROM t").fetchall() == [(1,)]


def test_required_column_missing_from_file(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int NOT NULL, name text)")
    (tmp_path / "a.csv").write_text("name\nx\n")
    report = load(_source())
    assert "no column 'id'" in report.failed_files[0].error


@pytest.mark.parametrize("batch_size", [1, 3, 1_000_000])
def test_batch_sizes(
    batch_size: int, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, note text)")
    (tmp_path / "a.csv").write_text("id,note\n" + "".join(f'{i},"n\n{i}"\n' for i in range(50)))
    report = load({**_source(), "settings": {"batch_size": batch_size}})
    assert report.records_inserted == 50
    assert db.execute("SELECT count(*), sum(id) FROM t").fetchone() == (50, sum(range(50)))


def test_changed_file_is_an_error_by_default_and_skip_leaves_it(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    path = tmp_path / "a.csv"
    path.write_text("id\n1\n")
    assert load(_source()).files_succeeded == 1
    path.write_text("id\n1\n2\n")
    report = load(_source())
    assert report.files_failed == 1
    assert "changed since it was loaded" in report.failed_files[0].error
    report = load(_source(on_change="skip"))
    assert (report.files_failed, report.files_skipped) == (0, 1)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_touched_but_unchanged_file_is_skipped(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int)")
    path = tmp_path / "a.csv"
    path.write_text("id\n1\n")
    load(_source())
    path.write_text("id\n1\n")  # same bytes, new modification time
    report = load(_source())
    assert report.files_skipped == 1
    assert db.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_compressed_and_tsv_and_json_array_files(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    import bz2
    import lzma

    import zstandard

    db.execute("CREATE TABLE t (id int, name text)")
    text = "id,name\n1,a\n"
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "b.csv.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "c.csv.xz").write_bytes(lzma.compress(text.encode()))
    (tmp_path / "d.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    (tmp_path / "e.tsv").write_text("id\tname\n1\ta\n")
    (tmp_path / "f.json").write_text(json.dumps([{"id": 1, "name": "a"}]))
    (tmp_path / "g.jsonl").write_text('{"id": 1, "name": "a"}\n\n{"name": "b", "id": 2}\n')
    pq.write_table(pa.table({"id": [1], "name": ["a"]}), tmp_path / "h.parquet.gz")
    (tmp_path / "h.parquet.gz").write_bytes(gzip.compress((tmp_path / "h.parquet.gz").read_bytes()))
    (tmp_path / "i.csv").write_bytes(gzip.compress(text.encode()))  # gzip behind a .csv name
    report = load({"sources": [{"name": "t", "paths": ["*.*"], "table": "t"}]})
    assert report.failed_files == []
    assert report.files_succeeded == 9
    assert db.execute("SELECT count(*) FROM t").fetchone() == (10,)


def test_json_key_first_seen_late_is_loaded(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, late text DEFAULT 'default')")
    lines = [json.dumps({"id": i}) for i in range(1500)] + [json.dumps({"id": 9999, "late": "x"})]
    (tmp_path / "a.ndjson").write_text("\n".join(lines))
    report = load({"sources": [{"name": "t", "paths": ["a.ndjson"], "table": "t"}]})
    assert report.failed_files == []
    assert db.execute("SELECT late FROM t WHERE id = 9999").fetchone() == ("x",)
    assert db.execute("SELECT count(*) FROM t WHERE late IS NULL").fetchone() == (1500,)


def test_quoted_and_odd_identifiers(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute('CREATE SCHEMA "My Schema"')
    db.execute('CREATE TABLE "My Schema"."odd; table" ("the ""id""" int, "a b" text)')
    (tmp_path / "a.csv").write_text('"the ""id""","a b"\n1,x\n')
    report = load(
        {"sources": [{"name": "t", "paths": ["a.csv"], "table": '"My Schema"."odd; table"'}]}
    )
    assert report.failed_files == []
    assert db.execute('SELECT * FROM "My Schema"."odd; table"').fetchall() == [(1, "x")]
