"""Bad input gets a clear error (what, where, what to do) and loses nothing — each case."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.summary import RunReport
from tests.conftest import CORPORA, write_config

runner = CliRunner()


def _one(load: Callable[..., RunReport], name: str, table: str = "t", **source: Any) -> RunReport:
    return load({"sources": [{"name": "s", "paths": [name], "table": table, **source}]})


def _error(report: RunReport) -> str:
    assert report.files_failed == 1, report.failed_files
    return report.failed_files[0].error


@pytest.fixture
def table(db: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    db.execute("CREATE TABLE t (id int, name varchar(5))")
    return db


def _count(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM t").fetchone()
    return int(row[0]) if row else 0


def test_malformed_config_and_unknown_keys_exit_2(tmp_path: Path) -> None:
    (tmp_path / "data_files.json").write_text('{"sources": [}')
    result = runner.invoke(app, ["run", str(tmp_path / "data_files.json")])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    assert "line 1, column 14" in result.output
    config = write_config(
        tmp_path, {"sources": [{"name": "a", "paths": ["*"], "table": "t", "colums": {}}]}
    )
    result = runner.invoke(app, ["run", str(config)])
    assert result.exit_code == 2
    assert "sources[0].colums: extra inputs are not permitted" in result.output
    assert "(did you mean `columns`?)" in result.output


def test_glob_without_match_is_a_warning(
    table: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path, {"sources": [{"name": "a", "paths": ["nothing-*.csv"], "table": "t"}]}
    )
    result = runner.invoke(app, ["run", str(config), "--database-url", database_url])
    assert result.exit_code == 0
    assert result.output.count("matched no files") == 1


def test_unreadable_and_vanished_files(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    assert "file not found" in _error(_one(load, "gone.csv"))
    if os.geteuid() != 0:  # root reads every file, whatever its mode
        locked = tmp_path / "locked.csv"
        locked.write_text("id\n1\n")
        locked.chmod(0)
        assert "permission denied" in _error(_one(load, "locked.csv"))


def test_folder_where_a_file_was_expected(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "folder.csv").mkdir()
    assert "is a folder, not a file" in _error(_one(load, "folder.csv"))


def test_empty_file_fails_and_header_only_file_loads_nothing(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "empty.ndjson").write_text("")
    report = load({"sources": [{"name": "s", "paths": ["empty.*"], "table": "t"}]})
    assert report.files_failed == 2
    assert all("empty" in f.error for f in report.failed_files)
    (tmp_path / "header.csv").write_text("id,name\n")
    report = _one(load, "header.csv")
    assert report.failed_files == []
    assert report.files_succeeded == 1
    assert _count(table) == 0


def test_wrong_delimiter_says_which_one(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "semi.csv").write_text("id;name\n1;a\n")
    # An explicit delimiter is used as written: the error names the one that fits.
    error = _error(_one(load, "semi.csv", csv={"delimiter": ","}))
    assert "looks delimited by ';'" in error
    assert '"delimiter": ";"' in error
    # The default ("auto") sniffs it.
    assert _one(load, "semi.csv").failed_files == []
    assert _count(table) == 1


def test_ragged_rows_are_rejected_with_their_lines(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "ragged.csv").write_text("id,name\n1,a\n2\n3,c,extra\n4,d\n")
    report = _one(load, "ragged.csv")
    assert report.records_rejected == 2
    assert _count(table) == 2
    rejects = table.execute(
        "SELECT line, error, raw FROM pgingest.rejects ORDER BY line"
    ).fetchall()
    assert rejects == [
        (3, "expected 2 fields, found 1", "2"),
        (4, "expected 2 fields, found 3", "3,c,extra"),
    ]


def test_invalid_utf8_in_declared_utf8_is_rejected_and_with_encoding_loads(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "latin.csv").write_bytes("id,name\n1,café\n2,ok\n".encode("latin-1"))
    report = _one(load, "latin.csv", csv={"encoding": "utf-8"})
    assert report.records_rejected == 1
    (reject,) = table.execute("SELECT line, column_name, error FROM pgingest.rejects").fetchall()
    assert reject[:2] == (2, "name")
    assert "UTF-8" in reject[2]
    assert "csv.encoding" in reject[2]
    table.execute("TRUNCATE t; DROP SCHEMA pgingest CASCADE")
    report = _one(load, "latin.csv", csv={"encoding": "latin-1"})
    assert report.records_rejected == 0
    assert table.execute("SELECT name FROM t WHERE id = 1").fetchone() == ("café",)


def test_real_latin1_file_from_the_corpus(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    source = CORPORA / "frictionless-py" / "data" / "latin1.csv"
    if not source.exists():
        pytest.skip("corpus not available")
    shutil.copy(source, tmp_path / "latin1.csv")
    report = load(
        {
            "sources": [
                {
                    "name": "s",
                    "paths": ["latin1.csv"],
                    "table": "latin",
                    "create": True,
                    "csv": {"encoding": "latin-1"},
                }
            ]
        }
    )
    assert report.failed_files == []
    names = [r[0] for r in db.execute("SELECT name FROM latin ORDER BY id").fetchall()]
    assert "©" in names  # byte 0xA9 in latin-1


def test_truncated_gzip_fails_whole(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    rows = "".join(f"{i},n{i % 1000}\n" for i in range(200_000))
    data = gzip.compress(("id,name\n" + rows).encode())
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    error = _error(_one(load, "cut.csv.gz"))
    assert "cut.csv.gz" in error
    assert "truncated" in error.lower()
    assert _count(table) == 0


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (
            "duckdb/test/sql/copy/parquet/broken/broken_structure.parquet",
            "claims 6,442,450,941 rows",
        ),
        ("duckdb/test/sql/copy/parquet/broken/garbledfooter.parquet", "cannot read Parquet"),
        ("duckdb/test/sql/copy/parquet/broken/missingmagicatend.parquet", "cannot read Parquet"),
        ("duckdb/data/parquet-testing/encryption/encrypted_footer.parquet", "encrypted"),
        ("duckdb/data/parquet-testing/encryption/encrypted_column.parquet", "decrypt"),
    ],
)
def test_corrupt_and_encrypted_parquet(
    relative: str, expected: str, load: Callable[..., RunReport], tmp_path: Path
) -> None:
    source = CORPORA / relative
    if not source.exists():
        pytest.skip("corpus not available")
    shutil.copy(source, tmp_path / source.name)
    report = load(
        {"sources": [{"name": "p", "paths": [source.name], "table": "p", "create": True}]}
    )
    error = report.failed_files[0].error if report.failed_files else ""
    assert expected in error, report.failed_files


def test_one_malformed_ndjson_line_is_rejected(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    lines = [json.dumps({"id": i, "name": "n"}) for i in range(5)]
    lines.insert(3, '{"id": 99, "name": "broken"')
    (tmp_path / "a.ndjson").write_text("\n".join(lines) + "\n")
    report = _one(load, "a.ndjson")
    assert report.records_rejected == 1
    assert _count(table) == 5
    line, error, raw = (
        table.execute("SELECT line, error, raw FROM pgingest.rejects").fetchone() or ()
    )
    assert line == 4
    assert "malformed JSON" in error
    assert raw == '{"id": 99, "name": "broken"'


def test_value_too_long_for_varchar_is_rejected(
    table: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,short\n2,much too long\n")
    report = _one(load, "a.csv")
    assert report.records_rejected == 1
    assert table.execute("SELECT line, column_name, sqlstate FROM pgingest.rejects").fetchone() == (
        3,
        None,
        "22001",
    )


def test_more_columns_than_postgres_allows(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    header = ",".join(f"c{i}" for i in range(1700))
    (tmp_path / "wide.csv").write_text(header + "\n" + ",".join("1" for _ in range(1700)) + "\n")
    report = _one(load, "wide.csv", table="wide", create=True)
    # Refused on the header's bytes (settings.limits.max_columns, PostgreSQL's limit).
    assert "more than max_columns (1,600)" in _error(report)
    assert db.execute("SELECT to_regclass('wide')").fetchone() == (None,)


def test_wrong_password_is_refused_without_showing_it(tmp_path: Path) -> None:
    from pgingest.embedded import embedded_data_dir, start_embedded, stop_embedded

    url = start_embedded(tmp_path)
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE ROLE loader LOGIN PASSWORD 'right-pw'")
            hba = embedded_data_dir(tmp_path) / "pg_hba.conf"
            hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
            admin.execute("SELECT pg_reload_conf()")
        socket = url.split("host=", 1)[1]
        wrong = f"postgresql://loader:wr0ng-pw@/postgres?host={socket}"
        (tmp_path / "a.csv").write_text("id\n1\n")
        config = write_config(
            tmp_path, {"sources": [{"name": "a", "paths": ["a.csv"], "table": "t"}]}
        )
        result = runner.invoke(
            app, ["run", str(config), "--database-url", wrong, "--db-attempts", "1"]
        )
        assert result.exit_code == 1
        assert "password authentication failed" in result.output
        assert "check the user name and password" in result.output
        assert "wr0ng-pw" not in result.output
    finally:
        stop_embedded(tmp_path)
