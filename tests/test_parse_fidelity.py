"""Records read as PostgreSQL reads them: long records, long names, odd JSON text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pgingest.summary import RunReport


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


def test_a_lone_surrogate_in_json_is_a_reject_in_arrays_and_lines(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    records = [
        '{"id": 1, "v": "ok \\ud83d\\ude00"}',
        '{"id": 2, "v": "a\\ud800b"}',
        '{"id": 3, "v": "\\\\ud800 is text"}',
        '{"id": 4, "v": "\\udc00", "j": {"k": 1}}',
        '{"id": 5, "v": "fine", "j": {"k\\ud800": 2}}',
        '{"id": 6, "v": "last"}',
    ]
    (tmp_path / "a.json").write_text("[" + ",\n".join(records) + "]")
    (tmp_path / "l.ndjson").write_text("\n".join(records) + "\n")
    db.execute("CREATE TABLE u (id integer, v text, j jsonb)")
    db.execute("CREATE TABLE w (id integer, v text)")
    for path, table in (("a.json", "u"), ("l.ndjson", "u"), ("l.ndjson", "w")):
        report = load(_source(path, table=table))
        assert report.failed_files == []
        assert report.records_rejected == 3
    expected = [(1, "ok \U0001f600"), (3, "\\ud800 is text"), (6, "last")]
    assert db.execute("SELECT id, v FROM u ORDER BY id, v").fetchall() == sorted(expected * 2)
    assert db.execute("SELECT id, v FROM w ORDER BY id").fetchall() == expected
    errors = db.execute("SELECT DISTINCT error FROM pgingest.rejects").fetchall()
    assert len(errors) == 1
    assert "lone surrogate" in errors[0][0]


def test_a_quote_in_mid_field_is_read_as_copy_reads_it(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    text = (
        'id,v,w\n1,plain,"He said ""hi"""\n2,["a"],x\n3,ab"c,d"e,f\n'
        '4,"x"y,z\n5,open"ed\nover,a line"!,w\n6,,""\nseven,ragged\n8,last,\n'
    )
    (tmp_path / "q.csv").write_text(text)
    db.execute("CREATE TABLE u (id text, v text, w text)")
    db.execute("CREATE TABLE oracle (id text, v text, w text)")
    with db.cursor() as cursor, cursor.copy("COPY oracle FROM STDIN (FORMAT csv, HEADER)") as copy:
        copy.write(text.replace("seven,ragged\n", ""))
    report = load(_source("q.csv"))
    assert report.failed_files == []
    assert db.execute("SELECT line, raw FROM pgingest.rejects").fetchall() == [(9, "seven,ragged")]
    assert db.execute("TABLE u").fetchall() == db.execute("TABLE oracle").fetchall()
    assert db.execute("SELECT v FROM u WHERE id = '2'").fetchone() == ("[a]",)


LONG = "a_very_long_column_name_" * 3  # 72 bytes
ACCENTED = "é" * 40  # 80 bytes: PostgreSQL cuts it to 31 characters (62 bytes)


def test_header_names_over_63_bytes_meet_the_columns_postgresql_made(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "long.csv").write_text(f"id,{LONG},{ACCENTED}\n1,x,y\n")
    db.execute(f'CREATE TABLE u (id integer, "{LONG}" text, "{ACCENTED}" text)')
    stored = [
        r[0]
        for r in db.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'u'::regclass AND attnum > 1"
            " ORDER BY attnum"
        ).fetchall()
    ]
    assert stored == [LONG.encode()[:63].decode(), "é" * 31]
    assert load(_source("long.csv", ignore_extra_columns=True)).failed_files == []
    assert load(_source("long.csv", table="c", create=True)).failed_files == []
    expected = [(1, "x", "y")]
    assert db.execute(f'SELECT id, "{stored[0]}", "{stored[1]}" FROM u').fetchall() == expected
    assert db.execute(f'SELECT id, "{stored[0]}", "{stored[1]}" FROM c').fetchall() == expected


def test_names_equal_in_their_first_63_bytes_fail_clearly(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "same.csv").write_text(f"id,{LONG}1,{LONG}2\n1,x,y\n")
    db.execute(f'CREATE TABLE u (id integer, "{LONG}" text)')
    (failed,) = load(_source("same.csv", ignore_extra_columns=True)).failed_files
    assert "first 63 bytes" in failed.error
    (failed,) = load(_source("same.csv", table="c", create=True)).failed_files
    assert "first 63 bytes" in failed.error
    assert db.execute("SELECT to_regclass('c')").fetchone() == (None,)


def test_a_table_created_for_files_that_all_failed_is_not_left_behind(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "bad.csv").write_text("id,v\n1,a\n2,b,extra\n")
    report = load(
        {
            "settings": {"max_rejects": 0},
            "sources": [{"name": "s", "paths": ["bad.csv"], "table": "c", "create": True}],
        }
    )
    assert len(report.failed_files) == 1
    assert db.execute("SELECT to_regclass('c')").fetchone() == (None,)
    (tmp_path / "good.csv").write_text("id,v\n3,c\n")
    report = load({"sources": [{"name": "s", "paths": ["*.csv"], "table": "c", "create": True}]})
    assert db.execute("SELECT id FROM c ORDER BY id").fetchall() == [(1,), (3,)]
