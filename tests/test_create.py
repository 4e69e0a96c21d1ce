"""create: true — tables made from types inferred from a sample of the files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgingest.errors import ConfigError
from pgingest.infer import SampleColumn, infer_columns
from pgingest.summary import RunReport


def _types(db: psycopg.Connection[Any], table: str) -> dict[str, str]:
    return dict(
        db.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
            (table,),
        ).fetchall()
    )


def test_csv_types_are_inferred(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(
        "id,zip,price,ratio,ok,day,at,name,empty\n"
        "1,00501,12.50,1e-3,true,2024-01-01,2024-01-01 10:00:00+02,x,\n"
        "2,10001,3,2.5,f,2024-02-29,2024-01-02T10:00:00Z,y,\n"
    )
    report = load({"sources": [{"name": "a", "paths": ["a.csv"], "table": "a", "create": True}]})
    assert report.failed_files == []
    assert _types(db, "a") == {
        "id": "bigint",
        "zip": "text",
        "price": "numeric",
        "ratio": "double precision",
        "ok": "boolean",
        "day": "date",
        "at": "timestamp with time zone",
        "name": "text",
        "empty": "text",
    }
    assert db.execute("SELECT zip, price FROM a ORDER BY id").fetchall() == [
        ("00501", Decimal("12.50")),
        ("10001", Decimal("3.00")),
    ]


def test_json_nested_values_become_jsonb_and_overrides_win(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    records = [
        {"id": 1, "code": "007", "meta": {"a": 1}, "tags": ["x"], "amount": 1.25, "ok": True},
        {"id": 2, "code": "12", "meta": None, "tags": [], "amount": 3, "ok": False},
    ]
    (tmp_path / "a.ndjson").write_text("\n".join(json.dumps(r) for r in records))
    report = load(
        {
            "sources": [
                {
                    "name": "a",
                    "paths": ["a.ndjson"],
                    "table": "s.a",
                    "create": True,
                    "columns": {"amount": "numeric(10,3)"},
                }
            ]
        }
    )
    assert report.failed_files == []
    assert _types(db, "s.a") == {
        "id": "bigint",
        "code": "text",
        "meta": "jsonb",
        "tags": "jsonb",
        "amount": "numeric(10,3)",
        "ok": "boolean",
    }
    assert db.execute("SELECT meta, tags, amount FROM s.a WHERE id = 1").fetchone() == (
        {"a": 1},
        ["x"],
        Decimal("1.250"),
    )


def test_parquet_types_map_directly(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    table = pa.table(
        {
            "i": pa.array([1], pa.int32()),
            "b": pa.array([2], pa.int64()),
            "f": pa.array([1.5], pa.float32()),
            "d": pa.array([Decimal("1.23")], pa.decimal128(5, 2)),
            "t": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("ms")),
            "tz": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], pa.timestamp("us", "UTC")),
            "l": pa.array([[1, 2]], pa.list_(pa.int64())),
            "s": pa.array([{"x": 1}], pa.struct([("x", pa.int64())])),
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    report = load(
        {"sources": [{"name": "p", "paths": ["p.parquet"], "table": "p", "create": True}]}
    )
    assert report.failed_files == []
    assert _types(db, "p") == {
        "i": "integer",
        "b": "bigint",
        "f": "real",
        "d": "numeric(5,2)",
        "t": "timestamp without time zone",
        "tz": "timestamp with time zone",
        "l": "bigint[]",
        "s": "jsonb",
    }
    assert db.execute("SELECT l, s FROM p").fetchone() == ([1, 2], {"x": 1})


def test_unknown_override_type_is_a_config_error(
    load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.columns\.a"):
        load(
            {
                "sources": [
                    {
                        "name": "a",
                        "paths": ["a.csv"],
                        "table": "a",
                        "create": True,
                        "columns": {"a": "int; DROP TABLE x"},
                    }
                ]
            }
        )


def test_inference_merges_files() -> None:
    first = [SampleColumn("n", ["1", "2"]), SampleColumn("x", [None])]
    second = [SampleColumn("n", ["2.5"]), SampleColumn("x", ["2024-01-01"])]
    assert [(c.name, c.sql_type) for c in infer_columns([first, second])] == [
        ("n", "numeric"),
        ("x", "date"),
    ]


def test_parquet_uuid_logical_type(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    import uuid

    values = [uuid.UUID(int=7), None]
    pq.write_table(
        pa.table({"u": pa.array([v.bytes if v else None for v in values], pa.uuid())}),
        tmp_path / "u.parquet",
    )
    report = load(
        {"sources": [{"name": "u", "paths": ["u.parquet"], "table": "u", "create": True}]}
    )
    assert report.failed_files == []
    assert _types(db, "u") == {"u": "uuid"}
    assert db.execute("SELECT u FROM u ORDER BY u NULLS LAST").fetchall() == [(values[0],), (None,)]
    db.execute("CREATE TABLE u_text (u text)")
    report = load({"sources": [{"name": "t", "paths": ["u.parquet"], "table": "u_text"}]})
    assert report.failed_files == [], report.failed_files
    assert report.records_inserted == 2, report
    assert db.execute("SELECT u FROM u_text WHERE u IS NOT NULL").fetchone() == (str(values[0]),)
