"""TSV is PostgreSQL's COPY text format by default; quoted CSV with tabs on request."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pgingest.summary import RunReport

# Every kind of value COPY's text format escapes, and values that look quoted.
TRICKY = [
    "plain",
    "tab\there",
    "line1\nline2",
    "cr\rhere",
    "back\\slash",
    "\\N",
    "",
    None,
    '"starts with a quote',
    'ends with a quote"',
    "bell\b form\f vtab\v",
    "é 中 \U0001f600",
    "\\.",
    "a\\",
]


def _source(path: str, table: str = "u", **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": [path], "table": table, **extra}]}


def _copy_out(db: psycopg.Connection[Any], query: str) -> bytes:
    buffer = io.BytesIO()
    with db.cursor() as cursor, cursor.copy(query) as copy:
        for data in copy:
            buffer.write(data)
    return buffer.getvalue()


def test_copy_text_output_round_trips_exactly(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id integer, v text, n integer)")
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO t VALUES (%s, %s, %s)",
            [(i, v, None if i % 3 else i) for i, v in enumerate(TRICKY)],
        )
    db.execute("CREATE TABLE u (LIKE t)")
    (tmp_path / "t.tsv").write_bytes(_copy_out(db, "COPY t TO STDOUT (FORMAT text, HEADER true)"))
    report = load(_source("t.tsv"))
    assert report.failed_files == []
    assert report.records_rejected == 0
    loaded = db.execute("SELECT id, v, n FROM u ORDER BY id").fetchall()
    assert loaded == db.execute("SELECT id, v, n FROM t ORDER BY id").fetchall()


def test_a_leading_quote_is_an_ordinary_character(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    # Read as CSV, the quote swallowed the lines up to the next quote: 4 rows became 2.
    (tmp_path / "q.tsv").write_text('id\tv\n1\t"a\n2\tb\n3\tc"\n4\td\n')
    db.execute("CREATE TABLE u (id integer, v text)")
    assert load(_source("q.tsv")).failed_files == []
    assert db.execute("SELECT id, v FROM u ORDER BY id").fetchall() == [
        (1, '"a'),
        (2, "b"),
        (3, 'c"'),
        (4, "d"),
    ]


def test_escapes_decode_as_copy_decodes_them(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    lines = ["\\101\\x41\\q", "a\\Nb", "\\N", "", "\\0411", "\\x4a\\x4"]
    (tmp_path / "e.tsv").write_text("v\n" + "\n".join(lines) + "\n")
    db.execute("CREATE TABLE u (v text)")
    db.execute("CREATE TABLE oracle (v text)")
    with db.cursor() as cursor, cursor.copy("COPY oracle FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n")
    assert load(_source("e.tsv")).failed_files == []
    expected = db.execute("SELECT v FROM oracle").fetchall()
    assert db.execute("SELECT v FROM u").fetchall() == expected
    assert expected == [("AAq",), ("aNb",), (None,), ("",), ("!1",), ("J\x04",)]


def test_an_escape_making_invalid_utf8_is_a_reject(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "x.tsv").write_text("id\tv\n1\tok\n2\t\\xff\n3\tfine\n")
    db.execute("CREATE TABLE u (id integer, v text)")
    report = load(_source("x.tsv"))
    assert report.failed_files == []
    assert db.execute("SELECT id FROM u ORDER BY id").fetchall() == [(1,), (3,)]
    assert db.execute("SELECT line FROM pgingest.rejects").fetchall() == [(3,)]


def test_an_escaped_tab_or_line_break_is_never_loaded_differently(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    # COPY reads backslash-tab as a tab in the value; pyarrow has already split there.
    (tmp_path / "tab.tsv").write_text("id\tv\n1\tok\n2\ta\\\tb\n")
    (tmp_path / "newline.tsv").write_text("id\tv\n1\tok\n2\ta\\\n")
    db.execute("CREATE TABLE u (id integer, v text)")
    assert load(_source("tab.tsv")).failed_files == []
    (line, error) = db.execute("SELECT line, error FROM pgingest.rejects").fetchone() or ()
    assert line == 3
    assert "backslash" in error
    (failed,) = load(_source("newline.tsv")).failed_files
    assert "backslash" in failed.error
    assert db.execute("SELECT id, v FROM u").fetchall() == [(1, "ok")]


def test_csv_style_reads_quoted_tsv(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "c.tsv").write_text('id\tv\n1\t"a\tb"\n2\t\n3\t\\N\n')
    db.execute("CREATE TABLE u (id integer, v text)")
    assert load(_source("c.tsv", csv={"style": "csv"})).failed_files == []
    assert db.execute("SELECT id, v FROM u ORDER BY id").fetchall() == [
        (1, "a\tb"),
        (2, None),
        (3, "\\N"),
    ]


def test_one_column_files_keep_blank_lines_as_copy_does(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "one.csv").write_text('v\na\n\n""\nb\n')
    (tmp_path / "one.tsv").write_text("v\na\n\nb\n")
    db.execute("CREATE TABLE u (v text)")
    db.execute("CREATE TABLE w (v text)")
    assert load(_source("one.csv")).failed_files == []
    assert load(_source("one.tsv", table="w")).failed_files == []
    assert db.execute("SELECT v FROM u").fetchall() == [("a",), (None,), ("",), ("b",)]
    assert db.execute("SELECT v FROM w").fetchall() == [("a",), ("",), ("b",)]
