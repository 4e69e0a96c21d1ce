"""Every value lands as PostgreSQL's own COPY would store it, or is rejected by both.

For each supported column type, Hypothesis writes values in the spellings
users write (valid, edge and invalid). The same texts are loaded into one
table by the server's ``COPY ... (FORMAT csv)`` and into another by pgingest's
conversion (the fast pass and the careful pass, the server reading the odd
values, rows the server refuses in binary COPY set aside): each row is either
rejected by both or stored identical in both, compared on the typed value and
on its text. The fast pass must agree with the careful one for every batch it
accepts.

Examples per type: ``HYPOTHESIS_PROFILE=long`` runs many more by hand
(``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_values_differential.py``).
The end-to-end tests at the bottom load the issue's cases as CSV, NDJSON and
Parquet files through ``pgingest run``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from pgingest.convert import ConvertContext, convert_batch
from pgingest.convert.binary import parse_array_literal
from pgingest.load.catalog import read_table
from pgingest.load.isolate import copy_isolating, is_row_error
from pgingest.load.server_input import ServerInput
from pgingest.naming import TableName
from pgingest.report.metrics import Metrics
from pgingest.summary import RunReport
from pgingest.types import TargetColumn
from tests import value_spellings as spell

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
EXAMPLES = {"ci": 20, "long": 1000}.get(PROFILE, 20)
VALUES_PER_EXAMPLE = 60

SETUP = """
CREATE TYPE colour AS ENUM ('red', 'green');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
"""


@dataclass(frozen=True)
class Case:
    """A column type, the spellings to try, and the session TimeZone."""

    type_sql: str
    spellings: spell.Spellings
    timezone: str = "UTC"


CASES: dict[str, Case] = {
    "smallint": Case("smallint", spell.integers(16)),
    "integer": Case("integer", spell.integers(32)),
    "bigint": Case("bigint", spell.integers(64)),
    "numeric": Case("numeric", spell.numerics()),
    "numeric(10,2)": Case("numeric(10,2)", spell.numerics()),
    "numeric(4,4)": Case("numeric(4,4)", spell.numerics()),
    "real": Case("real", spell.floats()),
    "double": Case("double precision", spell.floats()),
    "boolean": Case("boolean", spell.booleans()),
    "date": Case("date", spell.dates()),
    "time": Case("time", spell.times()),
    "timestamp": Case("timestamp", spell.timestamps(zoned=False)),
    "timestamptz-utc": Case("timestamptz", spell.timestamps(zoned=True)),
    "timestamptz-new-york": Case("timestamptz", spell.timestamps(zoned=True), "America/New_York"),
    "timestamptz-london": Case("timestamptz", spell.timestamps(zoned=True), "Europe/London"),
    "timestamptz-lord-howe": Case(
        "timestamptz", spell.timestamps(zoned=True), "Australia/Lord_Howe"
    ),
    "interval": Case("interval", spell.intervals()),
    "uuid": Case("uuid", spell.uuids()),
    "json": Case("json", spell.jsons()),
    "jsonb": Case("jsonb", spell.jsons()),
    "bytea": Case("bytea", spell.byteas()),
    "text": Case("text", spell.texts()),
    "varchar(3)": Case("varchar(3)", spell.texts()),
    "char(3)": Case("char(3)", spell.texts()),
    "enum": Case("colour", spell.enum_labels()),
    "domain": Case("positive", spell.integers(32)),
    "integer[]": Case("integer[]", spell.arrays(spell.integers(32))),
    "numeric[]": Case("numeric[]", spell.arrays(spell.numerics())),
    "text[]": Case("text[]", spell.arrays(spell.texts())),
    "varchar(3)[]": Case("varchar(3)[]", spell.arrays(spell.texts())),
    "boolean[]": Case("boolean[]", spell.arrays(spell.booleans())),
    "double[]": Case("double precision[]", spell.arrays(spell.floats())),
    "date[]": Case("date[]", spell.arrays(spell.dates())),
    "timestamptz[]": Case(
        "timestamptz[]", spell.arrays(spell.timestamps(zoned=True)), "America/New_York"
    ),
    "uuid[]": Case("uuid[]", spell.arrays(spell.uuids())),
    "interval[]": Case("interval[]", spell.arrays(spell.intervals())),
    "jsonb[]": Case("jsonb[]", spell.arrays(spell.jsons())),
    "enum[]": Case("colour[]", spell.arrays(spell.enum_labels())),
}


def _csv_field(value: str | None) -> str:
    """COPY csv: an unquoted empty field is NULL, a quoted one the text as is."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def _copy_lines(conn: psycopg.Connection[Any], lines: list[str]) -> bool:
    """COPY the lines into by_server under a savepoint; False if a row was refused."""
    try:
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy("COPY by_server (id, v) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write("".join(lines))
    except psycopg.Error as exc:
        if not is_row_error(exc):
            raise
        return False
    return True


def _server_copy(conn: psycopg.Connection[Any], values: list[str | None]) -> set[int]:
    """COPY the values into by_server; the ids of the rows COPY refuses.

    All rows in one COPY; if COPY refuses one, each row in a COPY of its own
    (COPY's line numbers count the line breaks inside quoted values).
    """
    lines = [f"{i},{_csv_field(v)}\n" for i, v in enumerate(values)]
    if _copy_lines(conn, lines):
        return set()
    return {i for i, line in enumerate(lines) if not _copy_lines(conn, [line])}


def _pgingest_load(
    conn: psycopg.Connection[Any], columns: list[TargetColumn], values: list[str | None], tz: str
) -> set[int]:
    """Convert (fast and careful) and copy into by_pgingest; the ids of the rows set aside."""
    batch = pa.record_batch(
        {"id": pa.array(range(len(values)), pa.int32()), "v": pa.array(values, pa.string())}
    )
    server = ServerInput(conn)
    careful = convert_batch(batch, columns, ConvertContext(timezone=tz), server=server)
    fast = convert_batch(
        batch, columns, ConvertContext(timezone=tz, floats_from_text=True), limit=0, server=server
    )
    if not fast.bad:  # a batch the fast pass accepts reads the same in both passes
        assert _as_reprs(fast.batch) == _as_reprs(careful.batch), values
    else:
        assert careful.bad, values
    bad = {b.row for b in careful.bad}
    kept = careful.batch
    refusals = copy_isolating(
        conn, TableName("public", "by_pgingest"), columns, kept, metrics=Metrics()
    )
    ids = kept.column(0).to_pylist()
    return bad | {ids[r.row] for r in refusals.refused}


def _as_reprs(batch: pa.RecordBatch) -> list[list[str]]:
    """Each value's repr, so NaN equals NaN and -0.0 differs from 0.0; temporal values
    as their integers (year 10000 is a date PostgreSQL 18 reads but Python cannot hold)."""

    def plain(column: pa.Array) -> pa.Array:
        if pa.types.is_date32(column.type):
            return column.view(pa.int32())
        if pa.types.is_temporal(column.type):
            return column.view(pa.int64())
        return column

    return [[repr(v) for v in plain(column).to_pylist()] for column in batch.columns]


def _differences(conn: psycopg.Connection[Any], comparable: bool) -> list[tuple[Any, ...]]:
    same_value = "s.v IS NOT DISTINCT FROM p.v AND " if comparable else ""
    query = (
        "SELECT s.id, s.v::text, p.v::text FROM by_server s JOIN by_pgingest p USING (id) "
        f"WHERE NOT ({same_value}s.v::text IS NOT DISTINCT FROM p.v::text)"
    )
    return conn.execute(query).fetchall()


def _prepare(conn: psycopg.Connection[Any], case: Case) -> list[TargetColumn]:
    conn.execute(SETUP)
    for table in ("by_server", "by_pgingest"):
        conn.execute(
            sql.SQL("CREATE TABLE {} (id integer, v {})").format(
                sql.Identifier(table),
                sql.SQL(case.type_sql),  # type: ignore[arg-type]
            )
        )
    conn.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(case.timezone)))
    table = read_table(conn, TableName("public", "by_pgingest"))
    assert table is not None
    return list(table.columns)


@pytest.mark.parametrize("name", list(CASES))
def test_values_land_as_copy_stores_them(db: psycopg.Connection[Any], name: str) -> None:
    case = CASES[name]
    columns = _prepare(db, case)
    comparable = case.type_sql not in ("json", "json[]")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=PROFILE == "ci",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(values=st.lists(case.spellings, min_size=1, max_size=VALUES_PER_EXAMPLE))
    def check(values: list[str | None]) -> None:
        db.execute("TRUNCATE by_server, by_pgingest")
        by_server = _server_copy(db, values)
        by_pgingest = _pgingest_load(db, columns, values, case.timezone)
        assert by_pgingest == by_server, [
            (i, values[i], "refused by " + ("server" if i in by_server else "pgingest"))
            for i in sorted(by_server ^ by_pgingest)
        ]
        assert _differences(db, comparable) == [], values

    check()


# --- the issue's cases, end to end through pgingest run -----------------------------------

ISSUE_CASES: list[tuple[str, list[str | None]]] = [
    ("smallint", ["0xFFFF", "+42", " 7 ", "1"]),
    ("integer", ["0x80000000", "2147483647", "-2147483648", "2147483648"]),
    ("bigint", ["0xFFFFFFFFFFFFFFFF", "9223372036854775807", "00000000000000000000042"]),
    ("timestamptz", ["2024-03-10 02:30", "2024-11-03 01:30", "2024-06-01 12:00", "Jan 5 2024"]),
    ("timestamp", ["2024-01-05 10", "2024-01-05 10:00:00.1234567", "0000-01-01 00:00", "today"]),
    ("text[]", ["{a\\,b}", "{\\NULL}", "{a\\\\b}", '{"a\\}', "{a,b}"]),
    ("integer[]", ["{1\\,2}", "{1,2}", "{ 1 , +2 }", "[0:1]={1,2}"]),
    ("numeric", ["43.0", "1.5", "2", "1.5e+1", "NaN", "Infinity", "1" * 45 + ".25"]),
    ("numeric(10,2)", ["1.005", "1.5e+1", "NaN", "123456789.999"]),
    ("date", ["0000-01-05", "2024-02-30", "Jan 5 2024", "infinity", "2024-01-05"]),
    ("uuid", ["{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC999C0B4EF8BB6D6BB9BD380A11"]),
    ("real", ["1e-50", "1e-40", "3.5e38", "1.5"]),
    ("time", ["24:00", "24:00:01", "12:00:00.1234567", "10:00 PM"]),
    ("timestamptz", ["2024-01-05 10:00 PST", "2024-01-05 10:00 America/Chicago", "epoch"]),
]


def _issue_tables(db: psycopg.Connection[Any]) -> None:
    db.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = 'America/New_York'").format(
            sql.Identifier(db.info.dbname)
        )
    )
    for index, (type_sql, _) in enumerate(ISSUE_CASES):
        for prefix in ("by_server", "by_pgingest"):
            db.execute(
                sql.SQL("CREATE TABLE {} (id integer, v {})").format(
                    sql.Identifier(f"{prefix}_{index}"),
                    sql.SQL(type_sql),  # type: ignore[arg-type]
                )
            )


def _write(folder: Path, file_format: str, index: int, values: list[str | None]) -> Path:
    path = folder / f"case_{index}.{file_format}"
    if file_format == "csv":
        lines = ["id,v", *(f"{i},{_csv_field(v)}" for i, v in enumerate(values))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif file_format == "ndjson":
        rows = (json.dumps({"id": i, "v": v}) for i, v in enumerate(values))
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    else:
        pq.write_table(pa.table({"id": list(range(len(values))), "v": values}), path)
    return path


@pytest.mark.parametrize("file_format", ["csv", "ndjson", "parquet"])
def test_issue_values_load_as_copy_reads_them(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path, load: Any, file_format: str
) -> None:
    _issue_tables(db)
    sources = []
    for index, (_, values) in enumerate(ISSUE_CASES):
        _write(tmp_path, file_format, index, values)
        sources.append(
            {"name": f"case_{index}", "paths": [f"case_{index}.{file_format}"],
             "table": f"public.by_pgingest_{index}"}
        )  # fmt: skip
    report: RunReport = load({"sources": sources})
    assert report.files_failed == 0, report.failed_files
    with psycopg.connect(database_url, autocommit=True) as conn:
        rejects = conn.execute("SELECT table_name, line FROM pgingest.rejects").fetchall()
        for index, (_, values) in enumerate(ISSUE_CASES):
            conn.execute(f"ALTER TABLE by_server_{index} RENAME TO by_server")
            conn.execute(f"ALTER TABLE by_pgingest_{index} RENAME TO by_pgingest")
            refused = _server_copy(conn, values)
            if file_format == "ndjson":
                # pgingest splits a JSON string bound for an array column itself; it
                # refuses dimension decorations rather than lose the lower bound.
                refused |= {i for i, v in enumerate(values) if v and v.startswith("[")}
            loaded = {r[0] for r in conn.execute("SELECT id FROM by_pgingest").fetchall()}
            assert loaded == set(range(len(values))) - refused, (values, refused, loaded)
            rejected = {line for table, line in rejects if table.endswith(f"by_pgingest_{index}")}
            assert len(rejected) == len(refused), (values, rejected, refused)
            assert _differences(conn, comparable=True) == [], values
            conn.execute("DROP TABLE by_server, by_pgingest")


@settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=PROFILE == "ci")
@given(literals=st.lists(spell.arrays(spell.texts()).filter(lambda v: v is not None), max_size=20))
def test_json_array_strings_split_as_array_in_splits_them(
    literals: list[str], server_url: str
) -> None:
    """JSON strings bound for an array column are split by pgingest: exactly as array_in."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        for literal in literals:
            try:
                row = conn.execute(
                    "SELECT x, array_ndims(x), array_lower(x, 1) FROM (SELECT %s::text[] x) s",
                    (literal,),
                ).fetchone()
            except psycopg.DataError:
                row = None
            try:
                ours: list[str | None] | None = parse_array_literal(literal)
            except ValueError:
                ours = None
            if row is None:
                assert ours is None, literal
            elif row[1] in (None, 1) and row[2] in (None, 1):
                assert ours == (row[0] or []), literal


def test_rules_compare_values_the_server_read(
    db: psycopg.Connection[Any], tmp_path: Path, load: Any
) -> None:
    """A column sent in its send format (mixed scales, NaN) is still checked by value."""
    db.execute("CREATE TABLE m (id integer, v numeric, d date)")
    rows = ["1,43.0,2024-01-05", "2,1.5,infinity", "3,-2,2024-01-06", "4,NaN,Jan 7 2024"]
    (tmp_path / "m.csv").write_text("id,v,d\n" + "\n".join(rows) + "\n", encoding="utf-8")
    rules = [{"column": "v", "min": 0, "action": "reject"}]
    report: RunReport = load(
        {"sources": [{"name": "m", "paths": ["m.csv"], "table": "public.m", "validate": rules}]}
    )
    assert report.files_failed == 0, report.failed_files
    loaded = db.execute("SELECT id, v::text, d::text FROM m ORDER BY id").fetchall()
    assert loaded == [(1, "43.0", "2024-01-05"), (2, "1.5", "infinity"), (4, "NaN", "2024-01-07")]
