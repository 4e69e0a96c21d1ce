"""Typed (Arrow-native) temporal values load as PostgreSQL reads them, or are rejected.

The server is the oracle: each Parquet value is compared with what PostgreSQL
makes of the same instant (its epoch, or its text cast to the column type).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from pgingest.summary import RunReport

MICROS_PER_DAY = 86_400_000_000
# Microseconds since 1970 at the edges: years 1, 1677, 2262, 9999, 10000, 52951,
# near Arrow's largest; 100 BC; PostgreSQL's first instant (4714-11-24 BC) and the one
# before it (rejected).
PG_FIRST_MICROS = -210_866_803_200_000_000
EDGES = [
    -62_135_596_800_000_000,  # 0001-01-01
    -9_223_372_036_854_775 * 1000 // 1000,  # 1677-09-21, the ns limit
    9_223_372_036_854_775,  # 2262-04-11, the ns limit
    253_402_300_799_999_999,  # 9999-12-31 23:59:59.999999
    253_402_300_800_000_000,  # 10000-01-01
    1_608_782_688_000_000_000 // 1,  # year 52951
    9_223_372_036_854_775_807 - 1,  # year 294247, Arrow's last microsecond
    -65_322_000_000_000_000,  # about 100 BC
    PG_FIRST_MICROS,
    0,
]
TOO_EARLY = PG_FIRST_MICROS - 1


def _source(path: str, table: str) -> dict[str, Any]:
    return {"sources": [{"name": table, "paths": [path], "table": table}]}


def _epoch_micros(db: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return db.execute(query).fetchall()


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_timestamps_at_the_edges_load_exactly_or_are_rejected(
    unit: str, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
    values = sorted({v // scale for v in [*EDGES, TOO_EARLY]})
    ids = list(range(len(values)))
    table = pa.table(
        {
            "id": pa.array(ids, pa.int32()),
            "ts": pa.array(values, pa.int64()).cast(pa.timestamp(unit)),
            "tz": pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz="UTC")),
            "d": pa.array([v * scale // MICROS_PER_DAY for v in values], pa.int32()).cast(
                pa.date32()
            ),
            "nested": pa.array(
                [{"at": v} for v in values], pa.struct([("at", pa.timestamp(unit))])
            ),
        }
    )
    pq.write_table(table, tmp_path / "edges.parquet")
    db.execute("CREATE TABLE t (id integer, ts timestamp, tz timestamptz, d date, nested jsonb)")
    report = load(_source("edges.parquet", "t"))
    assert report.failed_files == []
    loaded = db.execute(
        "SELECT id, (extract(epoch FROM ts) * 1000000)::bigint,"
        " (extract(epoch FROM tz) * 1000000)::bigint, d - date '1970-01-01', nested IS NOT NULL"
        " FROM t ORDER BY id"
    ).fetchall()
    expected = [
        (i, v * scale, v * scale, v * scale // MICROS_PER_DAY, True)
        for i, v in zip(ids, values, strict=True)
        if v * scale >= PG_FIRST_MICROS
    ]
    assert loaded == expected
    assert report.records_rejected == len(values) - len(expected)


def test_nanoseconds_round_as_postgresql_rounds_their_text(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    base = [0, 1_704_067_200, -315_619_200]  # 1970, 2024, 1960
    fractions = [500, 1_500, 2_500, 999_999_500, 123_456_789, 999_999_999]
    nanos = [s * 1_000_000_000 + f for s in base for f in fractions]
    texts = [
        pa.scalar(n, pa.timestamp("ns")).cast(pa.string()).as_py() for n in nanos
    ]  # e.g. 2024-01-01 00:00:00.000000500
    times = [(f % 86_400_000_000_000) for f in fractions]
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(len(nanos)), pa.int32()),
                "ts": pa.array(nanos, pa.timestamp("ns")),
                "t": pa.array([times[i % len(times)] for i in range(len(nanos))], pa.time64("ns")),
            }
        ),
        tmp_path / "ns.parquet",
    )
    db.execute("CREATE TABLE t (id integer, ts timestamp, t time)")
    assert load(_source("ns.parquet", "t")).failed_files == []
    time_texts = [
        pa.scalar(times[i % len(times)], pa.time64("ns")).cast(pa.string()).as_py()
        for i in range(len(nanos))
    ]
    expected = [
        db.execute("SELECT %s::timestamp, %s::time", (text, time_text)).fetchone()
        for text, time_text in zip(texts, time_texts, strict=True)
    ]
    assert db.execute("SELECT ts, t FROM t ORDER BY id").fetchall() == expected


def test_int96_timestamps_keep_their_year(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    values = [dt.datetime(9999, 12, 31, 3), dt.datetime(1, 1, 1), dt.datetime(2024, 1, 1, 12)]
    pq.write_table(
        pa.table({"ts": pa.array(values, pa.timestamp("us"))}),
        tmp_path / "spark.parquet",
        use_deprecated_int96_timestamps=True,
    )
    db.execute("CREATE TABLE t (ts timestamp)")
    assert load(_source("spark.parquet", "t")).failed_files == []
    assert [r[0] for r in db.execute("SELECT ts FROM t").fetchall()] == values


def test_zoneless_timestamps_follow_the_server_zone_through_dst_as_postgresql(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path, database_url: str
) -> None:
    db.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = 'America/New_York'").format(
            sql.Identifier(db.info.dbname)
        )
    )
    local = [
        "2024-03-10 01:59:59",
        "2024-03-10 02:00:00",
        "2024-03-10 02:30:00",
        "2024-03-10 02:59:59.999999",
        "2024-03-10 03:00:00",
        "2024-11-03 00:59:59",
        "2024-11-03 01:00:00",
        "2024-11-03 01:30:00",
        "2024-11-03 02:00:00",
        "1883-11-18 12:00:00",
        "2024-07-01 12:00:00",
    ]
    values = [dt.datetime.fromisoformat(v) for v in local]
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(len(values)), pa.int32()),
                "at": pa.array(values, pa.timestamp("us")),
                "ns": pa.array(values, pa.timestamp("ns")),
                "day": pa.array([v.date() for v in values], pa.date32()),
            }
        ),
        tmp_path / "dst.parquet",
    )
    db.execute("CREATE TABLE t (id integer, at timestamptz, ns timestamptz, day timestamptz)")
    assert load(_source("dst.parquet", "t")).failed_files == []
    with psycopg.connect(database_url, autocommit=True) as fresh:  # sees the new TimeZone
        expected = [
            fresh.execute(
                "SELECT %s::timestamp::timestamptz, %s::timestamp::timestamptz,"
                " %s::date::timestamptz",
                (text, text, text[:10]),
            ).fetchone()
            for text in local
        ]
    # Compared in UTC: Python never finds a fold=1 local time equal to another zone's (PEP 495).
    assert _in_utc(db.execute("SELECT at, ns, day FROM t ORDER BY id").fetchall()) == _in_utc(
        expected
    )


def _in_utc(rows: list[Any]) -> list[tuple[dt.datetime, ...]]:
    return [tuple(v.astimezone(dt.UTC) for v in row) for row in rows]


# After 2037 tz data built "slim" lists no transitions, and Arrow alone would apply no
# daylight saving time there (2040-07-01 12:00 New York came out an hour off).
LATE_LOCAL = [
    "2038-01-19 03:14:08",
    "2040-03-11 02:30:00",  # in New York's spring-forward gap
    "2040-07-01 12:00:00",
    "2040-11-04 01:30:00",  # twice in New York
    "2100-10-31 01:30:00",  # twice in London
    "2437-06-30 23:59:59.999999",
    "9999-07-01 00:00:00",
]
LATE_MICROS = [  # the same dates and two past Python's year 9999, as instants
    *(
        int((dt.datetime.fromisoformat(v) - dt.datetime(1970, 1, 1)).total_seconds() * 1e6)
        for v in LATE_LOCAL
    ),
    253_402_300_800_000_000 + 181 * MICROS_PER_DAY,  # 10000-07-01
    1_608_782_688_000_000_000,  # year 52951
]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe"])
def test_times_after_2037_follow_the_zone_rule_as_postgresql(
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
    database_url: str,
    zone: str,
) -> None:
    db.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = {}").format(
            sql.Identifier(db.info.dbname), sql.Literal(zone)
        )
    )
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(len(LATE_MICROS)), pa.int32()),
                "local": pa.array(LATE_MICROS, pa.timestamp("us")),
                "instant": pa.array(LATE_MICROS, pa.timestamp("us", tz="UTC")),
            }
        ),
        tmp_path / "late.parquet",
    )
    db.execute("CREATE TABLE t (id integer, local timestamptz, instant timestamp)")
    assert load(_source("late.parquet", "t")).failed_files == []
    with psycopg.connect(database_url, autocommit=True) as fresh:  # sees the new TimeZone
        # Compared in SQL: years past 9999 do not fit Python's datetime.
        differing = fresh.execute(
            "SELECT t.id, t.local::text, t.instant::text FROM t"
            " JOIN unnest(%s::bigint[]) WITH ORDINALITY AS x(m, n) ON t.id = x.n - 1"
            " WHERE t.local IS DISTINCT FROM"
            "  (to_timestamp(m / 1e6) AT TIME ZONE 'UTC')::text::timestamptz"
            " OR t.instant IS DISTINCT FROM to_timestamp(m / 1e6)::timestamp",
            (LATE_MICROS,),
        ).fetchall()
        loaded = fresh.execute("SELECT count(*) FROM t").fetchone()
    assert differing == []
    assert loaded == (len(LATE_MICROS),)


def test_a_server_zone_unknown_to_pgingest_is_never_read_as_another(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path, database_url: str
) -> None:
    # A POSIX zone spelling PostgreSQL accepts and Python's zoneinfo does not: UTC+3.
    db.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = 'FOO-3'").format(sql.Identifier(db.info.dbname))
    )
    (tmp_path / "texts.csv").write_text("at\n2024-07-01 12:00:00\n2024-03-10 02:30:00\n")
    pq.write_table(
        pa.table({"at": pa.array([dt.datetime(2024, 7, 1, 12)], pa.timestamp("us"))}),
        tmp_path / "typed.parquet",
    )
    db.execute("CREATE TABLE texts (at timestamptz)")
    db.execute("CREATE TABLE typed (at timestamptz)")

    assert load(_source("texts.csv", "texts")).failed_files == []
    report = load(_source("typed.parquet", "typed"))

    with psycopg.connect(database_url, autocommit=True) as fresh:  # sees the new TimeZone
        differing = fresh.execute(
            "SELECT at FROM texts EXCEPT SELECT unnest(%s::text[])::timestamptz",
            (["2024-07-01 12:00:00", "2024-03-10 02:30:00"],),
        ).fetchall()
        assert fresh.execute("SELECT count(*) FROM texts").fetchone() == (2,)
    assert differing == []
    assert [f.path for f in report.failed_files] == [str(tmp_path / "typed.parquet")]
    assert "TimeZone 'FOO-3' is unknown to pgingest" in report.failed_files[0].error
    assert db.execute("SELECT count(*) FROM typed").fetchone() == (0,)
