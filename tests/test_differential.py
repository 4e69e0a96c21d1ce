"""pgingest reads CSV exactly as PostgreSQL's own COPY (FORMAT csv) does.

Each file is loaded twice, once by the server (``COPY ... FROM STDIN``) and
once by pgingest, and the two tables must be identical, NULLs included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgingest.summary import RunReport

TABLE = """(
    id integer, name text, amount numeric(10,2), flag boolean, at timestamptz, d date,
    note text, code varchar(12), score double precision
)"""
COLUMNS = "id, name, amount, flag, at, d, note, code, score"

HEADER = "id,name,amount,flag,at,d,note,code,score"
TRICKY_ROWS = [
    '1,"Smith, John",12.50,t,2024-01-01 10:00:00+02,2024-01-01,"He said ""hi""",00501,1.5',
    '2,"multi\nline\nvalue",-0.01,f,2024-06-30T23:59:59.999999Z,1999-12-31,,"",-2e-3',
    '3,"",0,true,2024-01-01 00:00:00-05:30,2000-02-29,"trailing space ",A,NaN',
    "4,,,,,,,,",
    '5,"ünïcødé ✓ 日本語",1234.5,false,2024-03-10 02:30:00,2024-03-10,"tab\there",x,Infinity',
    '6,"a,b,c",7,yes,2024-01-01 12:00:00.5+00:00,2024-01-01,"""",y,-Infinity',
    '7,plain,8.005,no,2024-01-01 12:00:00 UTC,2024-01-01,"emoji 🎉",z,0',
]


def _server_copy(db: psycopg.Connection[Any], table: str, path: Path, options: str) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        sql.Identifier(table),
        sql.SQL(COLUMNS),
        sql.SQL(options),  # type: ignore[arg-type]
    )
    with db.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(path.read_bytes())


def _assert_identical(db: psycopg.Connection[Any]) -> None:
    differences = db.execute(
        f"(SELECT {COLUMNS} FROM by_server EXCEPT ALL SELECT {COLUMNS} FROM by_pgingest) "
        f"UNION ALL (SELECT {COLUMNS} FROM by_pgingest EXCEPT ALL SELECT {COLUMNS} FROM by_server)"
    ).fetchall()
    assert differences == []
    count = db.execute("SELECT count(*) FROM by_server").fetchone()
    assert count is not None
    assert count[0] > 0


CASES = {
    "lf": (HEADER + "\n" + "\n".join(TRICKY_ROWS) + "\n", {}, "FORMAT csv, HEADER"),
    "crlf": (HEADER + "\r\n" + "\r\n".join(TRICKY_ROWS) + "\r\n", {}, "FORMAT csv, HEADER"),
    "no_final_newline": (HEADER + "\n" + "\n".join(TRICKY_ROWS), {}, "FORMAT csv, HEADER"),
    "semicolon": (
        (HEADER + "\n" + "\n".join(TRICKY_ROWS)).replace(",", ";"),
        {"delimiter": ";"},
        "FORMAT csv, HEADER, DELIMITER ';'",
    ),
    "semicolon_sniffed": (
        (HEADER + "\n" + "\n".join(TRICKY_ROWS)).replace(",", ";"),
        {},
        "FORMAT csv, HEADER, DELIMITER ';'",
    ),
    "pipe_sniffed": (
        (HEADER + "\n" + "\n".join(TRICKY_ROWS)).replace(",", "|"),
        {},
        "FORMAT csv, HEADER, DELIMITER '|'",
    ),
    "single_quote_sniffed": (
        HEADER + "\n1,'a, b',1,t,,,'it''s',,\n2,'c',2,f,,,'',,\n",
        {},
        "FORMAT csv, HEADER, QUOTE ''''",
    ),
    "null_string": (
        HEADER + '\n1,NULL,1,t,NULL,NULL,"NULL",NULL,NULL\n2,,2,f,NULL,NULL,,,NULL\n',
        {"null": ["NULL"]},
        "FORMAT csv, HEADER, NULL 'NULL'",
    ),
    "backslash_escape": (
        HEADER + '\n1,"say \\"hi\\"",1,t,,,"back\\\\slash",,\n',
        {"escape": "\\"},
        "FORMAT csv, HEADER, ESCAPE '\\'",
    ),
    "single_quote": (
        HEADER + "\n1,'a, b',1,t,,,'it''s',,\n",
        {"quote": "'"},
        "FORMAT csv, HEADER, QUOTE ''''",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_table_as_server_copy(
    case: str, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    text, csv_options, copy_options = CASES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(text.encode("utf-8"))
    db.execute(f"CREATE TABLE by_server {TABLE}")
    db.execute(f"CREATE TABLE by_pgingest {TABLE}")
    _server_copy(db, "by_server", path, copy_options)
    report = load(
        {
            "sources": [
                {"name": case, "paths": [path.name], "table": "by_pgingest", "csv": csv_options}
            ]
        }
    )
    assert report.failed_files == []
    _assert_identical(db)


def test_quoted_empty_is_empty_string_and_unquoted_empty_is_null(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "n.csv").write_text('a,b,c\n"",,x\n,"",\n')
    db.execute("CREATE TABLE n (a text, b text, c text)")
    load({"sources": [{"name": "n", "paths": ["n.csv"], "table": "n"}]})
    assert db.execute("SELECT a, b, c FROM n ORDER BY c NULLS LAST").fetchall() == [
        ("", None, "x"),
        (None, "", None),
    ]


def test_server_timezone_applies_to_zoneless_timestamps(
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    database_url: str,
) -> None:
    db.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = 'America/New_York'").format(
            sql.Identifier(db.info.dbname)
        )
    )
    (tmp_path / "t.csv").write_text("at\n2024-01-01 10:00:00\n2024-07-01 10:00:00\n")
    db.execute("CREATE TABLE by_server (at timestamptz)")
    db.execute("CREATE TABLE by_pgingest (at timestamptz)")
    with (
        psycopg.connect(database_url, autocommit=True) as fresh,  # sees the new TimeZone
        fresh.cursor() as cursor,
        cursor.copy("COPY by_server FROM STDIN (FORMAT csv, HEADER)") as copy,
    ):
        copy.write((tmp_path / "t.csv").read_bytes())
    load({"sources": [{"name": "t", "paths": ["t.csv"], "table": "by_pgingest"}]})
    assert db.execute("SELECT at FROM by_server EXCEPT SELECT at FROM by_pgingest").fetchall() == []
