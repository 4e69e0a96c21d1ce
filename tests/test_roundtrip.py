"""Every supported type through CSV, NDJSON and Parquet: values read back equal the source.

The server itself writes the source values: rows are inserted into a reference
table, exported with ``COPY ... TO`` (CSV), ``row_to_json`` (NDJSON) or read
back into Arrow (Parquet), loaded by pgingest into an identical table, and the
two tables compared with EXCEPT in both directions.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgingest.summary import RunReport

COLUMNS = """
    id integer PRIMARY KEY,
    s smallint, i integer, b bigint, n numeric(12,2), nu numeric, r real, d double precision,
    bo boolean, t text, vc varchar(10), c char(3), dt date, ts timestamp, tz timestamptz,
    tm time, iv interval, u uuid, j json, jb jsonb, by bytea,
    ai integer[], at text[], au uuid[], atz timestamptz[], avc varchar(5)[]
"""
# json has no equality operator: compare its text.
COMPARED = (
    "id, s, i, b, n, nu, r, d, bo, t, vc, c, dt, ts, tz, tm, iv, u, j::text, jb, by, "
    "ai, at, au, atz, avc"
)

REFERENCE_ROWS = [
    """(1, 32767, -2147483648, 9223372036854775807, 1234567890.12, 0.000001, 1.5, 3.141592653589793,
        true, 'plain', 'ten chars!', 'ab', '2024-02-29', '2024-01-01 10:00:00.123456',
        '2024-06-30 23:59:59.999999+02', '13:45:00.5', '1 year 2 mons 3 days 04:05:06.5',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, "x"], "b": null}',
        '{"k": {"nested": true}, "n": 1.10}', '\\x00ff10', '{1,NULL,3}',
        '{"a,b","q\\"x",NULL,""}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
        '{"2024-01-01 00:00:00+00"}', '{abc,NULL}')""",
    """(2, -32768, 0, -1, -0.01, -12345.678901234, 'Infinity', 'NaN', false,
        'comma, "quotes", newline
and ünïcødé ✓', '', '', '1999-12-31', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00',
        '00:00:00', '-1 days +02:03:00', '00000000-0000-0000-0000-000000000000', '[]', '"str"',
        '\\x', '{}', '{}', '{}', '{}', '{}')""",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
]


def _create(db: psycopg.Connection[Any], name: str) -> None:
    db.execute(f"CREATE TABLE {name} ({COLUMNS})")


def _differences(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute(
        f"(SELECT {COMPARED} FROM reference EXCEPT SELECT {COMPARED} FROM loaded) UNION ALL "
        f"(SELECT {COMPARED} FROM loaded EXCEPT SELECT {COMPARED} FROM reference)"
    ).fetchall()


def export_csv(db: psycopg.Connection[Any], path: Path) -> None:
    """The reference rows as PostgreSQL writes CSV."""
    with (
        path.open("wb") as handle,
        db.cursor() as cursor,
        cursor.copy("COPY reference TO STDOUT (FORMAT csv, HEADER)") as copy,
    ):
        for chunk in copy:
            handle.write(chunk)


def export_ndjson(db: psycopg.Connection[Any], path: Path) -> None:
    """The reference rows as PostgreSQL's row_to_json writes them, one per line."""
    lines = [row[0] for row in db.execute("SELECT row_to_json(ref)::text FROM reference ref")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _text_of(db: psycopg.Connection[Any], column: str) -> dict[int, str | None]:
    return dict(db.execute(f"SELECT id, {column}::text FROM reference").fetchall())


def export_parquet(db: psycopg.Connection[Any], path: Path) -> None:
    """The reference rows as natural Arrow types (intervals as text: Arrow has no months)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM reference ORDER BY id")
        names = [d.name for d in cursor.description or []]
        records = cursor.fetchall()
    columns: dict[str, list[Any]] = {name: [r[i] for r in records] for i, name in enumerate(names)}
    for name in ("iv", "j", "jb"):  # server text: exact digits, and months in intervals
        texts = _text_of(db, name)
        columns[name] = [texts[i] for i in columns["id"]]
    columns["u"] = [None if v is None else v.bytes for v in columns["u"]]
    columns["au"] = [None if v is None else [x.bytes for x in v] for v in columns["au"]]
    types = {
        "id": pa.int32(),
        "s": pa.int16(),
        "i": pa.int32(),
        "b": pa.int64(),
        "n": pa.decimal128(12, 2),
        "nu": pa.decimal128(38, 9),
        "r": pa.float32(),
        "d": pa.float64(),
        "bo": pa.bool_(),
        "t": pa.string(),
        "vc": pa.string(),
        "c": pa.string(),
        "dt": pa.date32(),
        "ts": pa.timestamp("us"),
        "tz": pa.timestamp("us", tz="UTC"),
        "tm": pa.time64("us"),
        "iv": pa.string(),
        "u": pa.binary(16),
        "j": pa.string(),
        "jb": pa.string(),
        "by": pa.binary(),
        "ai": pa.list_(pa.int32()),
        "at": pa.list_(pa.string()),
        "au": pa.list_(pa.binary(16)),
        "atz": pa.list_(pa.timestamp("us", tz="UTC")),
        "avc": pa.list_(pa.string()),
    }
    table = pa.table({name: pa.array(columns[name], types[name]) for name in names})
    pq.write_table(table, path)


EXPORTS: dict[str, tuple[str, Callable[[psycopg.Connection[Any], Path], None]]] = {
    "csv": ("rows.csv", export_csv),
    "ndjson": ("rows.ndjson", export_ndjson),
    "parquet": ("rows.parquet", export_parquet),
}


def _load_export(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path, kind: str
) -> RunReport:
    name, export = EXPORTS[kind]
    export(db, tmp_path / name)
    report = load({"sources": [{"name": kind, "paths": [name], "table": "loaded"}]})
    assert report.failed_files == [], report.failed_files
    return report


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_every_type_round_trips(
    kind: str, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    _create(db, "reference")
    _create(db, "loaded")
    db.execute("INSERT INTO reference VALUES " + ", ".join(REFERENCE_ROWS))
    report = _load_export(db, load, tmp_path, kind)
    assert report.records_inserted == len(REFERENCE_ROWS)
    assert _differences(db) == [], _column_differences(db)
    # A quoted empty CSV field stays the empty string; only unquoted empties are NULL.
    assert db.execute("SELECT vc = '', c IS NULL FROM loaded WHERE id = 2").fetchone() == (
        True,
        False,
    )


_SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
_ROW = st.fixed_dictionaries(
    {
        "s": st.none() | st.integers(-(2**15), 2**15 - 1),
        "b": st.none() | st.integers(-(2**63), 2**63 - 1),
        "n": st.none()
        | st.decimals(
            min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False
        ),
        "d": st.none() | st.floats(allow_nan=False, allow_infinity=True, width=64),
        "bo": st.none() | st.booleans(),
        "t": st.none() | _SAFE_TEXT,
        "dt": st.none() | st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
        "tz": st.none()
        | st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.just(dt.UTC),
        ),
        "u": st.none() | st.uuids(),
        "jb": st.none()
        | st.recursive(
            st.none() | st.booleans() | st.integers(-1000, 1000) | _SAFE_TEXT,
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(_SAFE_TEXT, inner, max_size=3)
            ),
            max_leaves=6,
        ),
    }
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(_ROW, min_size=1, max_size=8))
def test_generated_values_round_trip_through_every_format(
    rows: list[dict[str, Any]], database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from pgingest.config import parse_config
    from pgingest.pipeline import RunOptions, run

    folder = tmp_path_factory.mktemp("generated")
    with psycopg.connect(database_url, autocommit=True) as db:
        for table in ("reference", "loaded"):
            db.execute(f"DROP TABLE IF EXISTS {table}")
            _create(db, table)
        db.execute("DROP SCHEMA IF EXISTS pgingest CASCADE")
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO reference (id, s, b, n, d, bo, t, dt, tz, u, jb) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        index,
                        r["s"],
                        r["b"],
                        r["n"],
                        r["d"],
                        r["bo"],
                        r["t"],
                        r["dt"],
                        r["tz"],
                        r["u"],
                        None if r["jb"] is None else psycopg.types.json.Jsonb(r["jb"]),
                    )
                    for index, r in enumerate(rows)
                ],
            )
        for kind in sorted(EXPORTS):
            db.execute("TRUNCATE loaded")
            name, export = EXPORTS[kind]
            export(db, folder / name)
            config = parse_config(
                {"sources": [{"name": kind, "paths": [name], "table": "loaded"}]},
                base_dir=folder,
            )
            report = run(config, RunOptions(database_url=database_url))
            assert report.failed_files == [], (kind, report.failed_files)
            assert _differences(db) == [], (kind, _column_differences(db))


def test_decimal_and_uuid_helpers_are_exact() -> None:
    # Guards the reference data itself: Python's Decimal and UUID are what psycopg returns.
    assert decimal.Decimal("1.10") == decimal.Decimal("1.1")
    assert uuid.UUID(int=0).bytes == bytes(16)


def _column_differences(db: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, Any]]]:
    """Per column, the (reference, loaded) values that differ, for a readable failure."""
    found: dict[str, list[tuple[Any, Any]]] = {}
    for column in COMPARED.split(", "):
        pairs = db.execute(
            f"SELECT r.{column}, l.{column} FROM reference r FULL JOIN loaded l USING (id) "
            f"WHERE r.{column} IS DISTINCT FROM l.{column}"
        ).fetchall()
        if pairs:
            found[column] = pairs
    return found
