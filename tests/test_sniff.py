"""csv.delimiter and csv.quote "auto": sniffed from the first records, through the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.errors import ParseError
from pgingest.parse.sniff import SNIFF_BYTES, read_sample, sniff_dialect
from tests.conftest import CORPORA, write_config

runner = CliRunner()

SEMICOLON = CORPORA / "frictionless-py" / "data" / "issue-811.csv"  # 1.1 MB, 26 fields
PIPE = CORPORA / "duckdb" / "data" / "csv" / "venue_pipe.csv"  # 202 records, 5 fields
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is absent")


def _run(
    folder: Path, database_url: str, paths: list[str], **source: Any
) -> tuple[int, str, dict[str, Any]]:
    config = write_config(
        folder,
        {"sources": [{"name": "s", "paths": paths, "table": "t", "create": True, **source}]},
    )
    report = folder / "report.json"
    result = runner.invoke(
        app,
        ["run", str(config), "--database-url", database_url, "--report", str(report)],
        catch_exceptions=False,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return result.exit_code, result.output, data


def _columns(db: psycopg.Connection[Any], table: str = "t") -> list[str]:
    return [
        name
        for (name,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        )
    ]


@needs_corpora
def test_a_semicolon_file_loads_its_columns_and_the_report_says_so(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    code, output, report = _run(tmp_path, database_url, [str(SEMICOLON)])
    assert code == 0, output
    assert len(_columns(db)) == 26
    # What COPY reads from the same text with DELIMITER ';' (the file is Latin-1).
    text = SEMICOLON.read_bytes().decode("latin-1").encode("utf-8")
    columns = ", ".join(f"c{i} text" for i in range(26))
    db.execute(f"CREATE TABLE by_copy ({columns})")
    with (
        db.cursor() as cursor,
        cursor.copy("COPY by_copy FROM STDIN (FORMAT csv, HEADER true, DELIMITER ';')") as copy,
    ):
        copy.write(text)
    counted = db.execute("SELECT count(*) FROM by_copy").fetchone()
    assert counted is not None
    assert counted[0] > 7000
    assert db.execute("SELECT count(*) FROM t").fetchone() == counted
    (note,) = [w for w in report["warnings"] if "sniffed" in w]
    assert note.startswith(str(SEMICOLON))
    assert "delimiter ';'" in note
    assert "records have the header's 26 fields" in note


@needs_corpora
def test_a_pipe_file_loads_as_copy_reads_it_with_that_delimiter(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    code, output, _report = _run(tmp_path, database_url, [str(PIPE)])
    assert code == 0, output
    db.execute("CREATE TABLE by_copy (LIKE t)")
    with (
        db.cursor() as cursor,
        cursor.copy("COPY by_copy FROM STDIN (FORMAT csv, HEADER true, DELIMITER '|')") as copy,
    ):
        copy.write(PIPE.read_bytes())
    assert len(_columns(db)) == 5
    difference = db.execute(
        "SELECT count(*) FROM ((TABLE t EXCEPT ALL TABLE by_copy) "
        "UNION ALL (TABLE by_copy EXCEPT ALL TABLE t)) d"
    ).fetchone()
    assert difference == (0,)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (202,)


def test_decimal_commas_do_not_fool_the_sniffer(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "prices.csv").write_text("id;price\n1;3,5\n2;4,25\n3;7\n")
    code, output, _report = _run(tmp_path, database_url, ["prices.csv"], columns={"price": "text"})
    assert code == 0, output
    assert _columns(db) == ["id", "price"]
    assert db.execute("SELECT id, price FROM t ORDER BY id").fetchall() == [
        (1, "3,5"),
        (2, "4,25"),
        (3, "7"),
    ]


def test_a_comma_file_with_semicolons_in_values_stays_comma(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "tags.csv").write_text('id,tags\n1,a;b\n2,"c;d|e"\n3,\n')
    code, output, report = _run(tmp_path, database_url, ["tags.csv"])
    assert code == 0, output
    assert db.execute("SELECT id, tags FROM t ORDER BY id").fetchall() == [
        (1, "a;b"),
        (2, "c;d|e"),
        (3, None),
    ]
    assert not [w for w in report["warnings"] if "sniffed" in w]  # COPY's dialect: no note


def test_an_ambiguous_sample_fails_the_file_naming_the_candidates(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "both.csv").write_text("a,b;c\n1,2;3\n4,5;6\n")
    code, output, report = _run(tmp_path, database_url, ["both.csv"])
    assert code == 1, output
    (failed,) = report["failed_files"]
    assert "cannot tell the delimiter" in failed["error"]
    assert "','" in failed["error"]
    assert "';'" in failed["error"]
    assert '"csv": {"delimiter": ","}' in failed["error"]
    assert db.execute("SELECT to_regclass('public.t')").fetchone() == (None,)  # nothing created


def test_an_explicit_delimiter_is_used_as_written(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "both.csv").write_text("a,b;c\n1,2;3\n4,5;6\n")
    code, output, report = _run(
        tmp_path, database_url, ["both.csv"], csv={"delimiter": ";"}, columns={"a,b": "text"}
    )
    assert code == 0, output
    assert db.execute('SELECT "a,b", c FROM t ORDER BY 1').fetchall() == [("1,2", 3), ("4,5", 6)]
    assert not [w for w in report["warnings"] if "sniffed" in w]


def test_a_tsv_file_keeps_tab_whatever_its_values_hold(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "t.tsv").write_text("a\tb\n1,2;3\tx|y\n4,5;6\tz|w\n")
    code, output, _report = _run(tmp_path, database_url, ["t.tsv"])
    assert code == 0, output
    assert db.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [
        ("1,2;3", "x|y"),
        ("4,5;6", "z|w"),
    ]


def test_single_quotes_are_sniffed_only_when_they_quote(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "q.csv").write_text("id,name\n1,'Smith, Jo'\n2,'Lee, Al'\n3,'O''Hara'\n")
    code, output, report = _run(tmp_path, database_url, ["q.csv"])
    assert code == 0, output
    assert db.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [
        (1, "Smith, Jo"),
        (2, "Lee, Al"),
        (3, "O'Hara"),
    ]
    (note,) = [w for w in report["warnings"] if "sniffed" in w]
    assert 'quote "\'"' in note
    (tmp_path / "q.csv").unlink()
    (tmp_path / "names.csv").write_text("id,name\n4,O'Hara\n5,D'Arcy\n")
    code, output, report = _run(tmp_path, database_url, ["names.csv"])
    assert code == 0, output
    assert db.execute("SELECT name FROM t WHERE id > 3 ORDER BY id").fetchall() == [
        ("O'Hara",),
        ("D'Arcy",),
    ]
    assert not [w for w in report["warnings"] if "sniffed" in w]  # apostrophes, not quotes


def test_chunks_of_a_split_file_read_with_the_sniffed_delimiter(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    rows = [f'{i};"name {i}; with; semicolons";{i * 2}' for i in range(6000)]
    (tmp_path / "big.csv").write_text("id;name;double\n" + "\n".join(rows) + "\n")
    config = write_config(
        tmp_path,
        {
            "settings": {"chunk_bytes": 65536},
            "sources": [{"name": "s", "paths": ["big.csv"], "table": "t", "create": True}],
        },
    )
    result = runner.invoke(app, ["run", str(config), "--database-url", database_url])
    assert result.exit_code == 0, result.output
    parts = db.execute("SELECT count(*) FROM pgingest.files WHERE path LIKE '%big.csv'").fetchone()
    assert parts is not None
    assert parts[0] > 1
    assert db.execute(
        "SELECT count(*), count(DISTINCT id), sum(double) FROM t WHERE name = 'name ' || id "
        "|| '; with; semicolons'"
    ).fetchone() == (6000, 6000, sum(i * 2 for i in range(6000)))


# --- the rule on samples -----------------------------------------------------------------


def test_one_column_and_ragged_comma_files_keep_copy_s_dialect() -> None:
    assert sniff_dialect(b"name\nx\ny\n", is_complete=True).delimiter == ","
    ragged = b"a,b,c\n" + b"1,2,3\n" * 30 + b"1,2\n" * 2
    assert sniff_dialect(ragged, is_complete=True).delimiter == ","


def test_more_fields_win_a_tie_in_records_and_a_full_tie_is_an_error() -> None:
    tabs = b"".join(b"\t".join([b"x, y", *[b"v"] * 9]) + b"\n" for _ in range(10))
    assert sniff_dialect(tabs, is_complete=True).delimiter == "\t"
    with pytest.raises(ParseError, match=r"split alike on ';'.* and on '\|'"):
        sniff_dialect(b"a|b;c\n", is_complete=True)


def test_a_sample_cut_inside_a_record_is_judged_on_whole_records() -> None:
    body = b"id;text\n" + b'1;"a long, long value"\n' * 5000
    dialect = sniff_dialect(body[:SNIFF_BYTES], is_complete=False)
    assert (dialect.delimiter, dialect.quote) == (";", '"')


def test_the_sample_grows_until_it_holds_records_after_a_wide_header() -> None:
    header = b";".join(b"column_%04d" % i for i in range(2000)) + b"\n"
    record = b";".join(b"%d" % i for i in range(2000)) + b"\n"
    sample, is_complete = read_sample(io.BytesIO(header + record * 100))
    assert sample.count(b"\n") >= 20
    assert not is_complete
    assert sniff_dialect(sample, is_complete=is_complete).delimiter == ";"
    small, is_complete = read_sample(io.BytesIO(b"skipped\na,b\n1,2\n"), skip_lines=1)
    assert (small, is_complete) == (b"a,b\n1,2\n", True)
