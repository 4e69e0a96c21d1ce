"""Formats beyond CSV: spreadsheets, Arrow IPC/Feather, ORC, fixed-width, nested JSON, zip."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from pyarrow import feather, orc

from pgingest.errors import ConfigError
from pgingest.summary import RunReport
from tests.conftest import CORPORA

SHEETS = CORPORA / "frictionless-py" / "data"


def _source(paths: list[str], table: str = "t", **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": paths, "table": table, "create": True, **extra}]}


def _rows(db: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return db.execute(query).fetchall()


# --- spreadsheets ---------------------------------------------------------------------


@pytest.mark.skipif(not SHEETS.is_dir(), reason="../shared/corpora is not present")
@pytest.mark.parametrize("name", ["table.xlsx", "table.xls", "table.ods"])
def test_spreadsheets_load_their_first_sheet_typed(
    name: str, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    shutil.copy(SHEETS / name, tmp_path / name)
    report = load(_source([name]))
    assert report.failed_files == []
    assert _rows(db, "SELECT id, name FROM t ORDER BY id") == [(1, "english"), (2, "中国人")]
    types = _rows(db, "SELECT data_type FROM information_schema.columns WHERE table_name = 't'")
    assert ("bigint",) in types


@pytest.mark.skipif(not SHEETS.is_dir(), reason="../shared/corpora is not present")
def test_a_sheet_is_chosen_by_name_or_position_and_dates_stay_dates(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    shutil.copy(SHEETS / "sheets.xlsx", tmp_path / "sheets.xlsx")
    shutil.copy(SHEETS / "table-with-ints-floats-dates.ods", tmp_path / "dates.ods")
    assert load(_source(["sheets.xlsx"], excel={"sheet": "Sheet2"})).failed_files == []
    assert load(_source(["sheets.xlsx"], table="third", excel={"sheet": 2})).failed_files == []
    assert _rows(db, "SELECT id, name FROM t") == [(2, "paris")]
    assert _rows(db, 'SELECT "id ", name FROM third') == [(3, "rome")]
    assert load(_source(["dates.ods"], table="d")).failed_files == []
    assert _rows(db, 'SELECT "Int", "Float", "Date" FROM d ORDER BY "Int" LIMIT 1') == [
        (1969, 11.7, dt.date(2012, 8, 23))
    ]
    report = load(_source(["sheets.xlsx"], table="none", excel={"sheet": "Nope"}))
    (failed,) = report.failed_files
    assert "no sheet named 'Nope'" in failed.error
    assert "'Sheet1', 'Sheet2', 'Sheet3'" in failed.error


def test_a_corrupt_spreadsheet_fails_clearly(
    load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "bad.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (failed,) = load(_source(["bad.xlsx"])).failed_files
    assert "cannot read the spreadsheet" in failed.error


# --- Arrow IPC / Feather and ORC --------------------------------------------------------


def _typed_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int32()),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 12), None, dt.datetime(2024, 3, 1)], pa.timestamp("us")
            ),
            "label": pa.array(["a", "b", None]).dictionary_encode(),
            "score": [1.5, None, 3.25],
        }
    )


@pytest.mark.parametrize("kind", ["feather", "arrow-stream", "orc"])
def test_arrow_ipc_and_orc_keep_their_types(
    kind: str, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    table = _typed_table()
    if kind == "feather":
        feather.write_feather(table, tmp_path / "data.feather")
        name = "data.feather"
    elif kind == "arrow-stream":
        with (
            pa.OSFile(str(tmp_path / "data.arrow"), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            for batch in table.to_batches(max_chunksize=2):
                writer.write_batch(batch)
        name = "data.arrow"
    else:
        orc.write_table(
            table.cast(table.schema.set(2, pa.field("label", pa.string()))),
            str(tmp_path / "data.orc"),
        )
        name = "data.orc"
    report = load({**_source([name]), "settings": {"batch_size": 2}})
    assert report.failed_files == []
    assert _rows(db, "SELECT id, at, label, score FROM t ORDER BY id") == [
        (1, dt.datetime(2024, 1, 1, 12), "a", 1.5),
        (2, None, "b", None),
        (3, dt.datetime(2024, 3, 1), None, 3.25),
    ]
    types = dict(
        _rows(
            db,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'",
        )
    )
    assert types["at"] == "timestamp without time zone"


def test_a_truncated_arrow_file_fails_clearly(
    load: Callable[..., RunReport], tmp_path: Path
) -> None:
    feather.write_feather(_typed_table(), tmp_path / "whole.arrow")
    data = (tmp_path / "whole.arrow").read_bytes()
    (tmp_path / "cut.arrow").write_bytes(data[: len(data) // 2])
    (failed,) = load(_source(["cut.arrow"])).failed_files
    assert "cannot read Arrow IPC" in failed.error


# --- fixed-width ------------------------------------------------------------------------


def test_fixed_width_columns_by_position(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    text = (
        "REPORT 2024\n"
        "00501NY   2024-01-02  12.50\n"
        "\n"
        "90210CA   2024-02-03    7.25\n"
        "12345TX   2024-02-04\n"
    )
    (tmp_path / "zips.dat").write_text(text, encoding="latin-1")
    layout = {
        "skip_rows": 1,
        "columns": [
            {"name": "zip", "start": 1, "width": 5},
            {"name": "state", "start": 6, "width": 2},
            {"name": "day", "start": 11, "width": 10},
            {"name": "amount", "start": 21, "width": 8},
        ],
    }
    report = load(_source(["zips.dat"], format="fixed_width", fixed_width=layout))
    assert report.failed_files == []
    assert _rows(db, "SELECT zip, state, day, amount FROM t ORDER BY zip") == [
        ("00501", "NY", dt.date(2024, 1, 2), pytest.approx(12.5)),
        ("12345", "TX", dt.date(2024, 2, 4), None),
        ("90210", "CA", dt.date(2024, 2, 3), pytest.approx(7.25)),
    ]


def test_fixed_width_needs_its_columns_in_the_config(load: Callable[..., RunReport]) -> None:
    with pytest.raises(ConfigError, match='needs "fixed_width"'):
        load(_source(["x.dat"], format="fixed_width"))


def test_fixed_width_bad_value_is_rejected_with_its_line(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE f (id int, code text)")
    (tmp_path / "f.txt").write_text("  1abc\n  xdef\n  3ghi\n")
    layout = {
        "columns": [
            {"name": "id", "start": 1, "width": 3},
            {"name": "code", "start": 4, "width": 3},
        ]
    }
    source = {
        "name": "f",
        "paths": ["f.txt"],
        "table": "f",
        "format": "fixed_width",
        "fixed_width": layout,
    }
    report = load({"sources": [source]})
    assert report.records_inserted == 2
    assert _rows(db, "SELECT line, raw FROM pgingest.rejects") == [(2, "  xdef")]


# --- nested JSON ------------------------------------------------------------------------


def test_nested_json_flattens_into_columns_with_a_separator(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    records = [
        {"id": 1, "address": {"city": "Oslo", "geo": {"lat": 59.9}}, "tags": ["a"]},
        {"id": 2, "address": {"city": "Lima"}, "tags": []},
    ]
    (tmp_path / "people.json").write_text(json.dumps(records))
    report = load(_source(["people.json"], json={"flatten": True, "separator": "__"}))
    assert report.failed_files == []
    assert _rows(db, "SELECT id, address__city, address__geo__lat, tags FROM t ORDER BY id") == [
        (1, "Oslo", Decimal("59.9"), ["a"]),
        (2, "Lima", None, []),
    ]


def test_nested_json_is_kept_as_jsonb_by_default(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "p.ndjson").write_text('{"id": 1, "address": {"city": "Oslo"}}\n')
    assert load(_source(["p.ndjson"])).failed_files == []
    assert _rows(db, "SELECT address FROM t") == [({"city": "Oslo"},)]


def test_one_json_object_over_many_lines_is_one_record(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    document = {"type": "FeatureCollection", "features": [{"id": 1}, {"id": 2}]}
    (tmp_path / "geo.json").write_text(json.dumps(document, indent=2))
    assert load(_source(["geo.json"])).failed_files == []
    assert _rows(db, "SELECT type, jsonb_array_length(features) FROM t") == [
        ("FeatureCollection", 2)
    ]


def test_a_malformed_line_is_rejected_even_when_jsonb_columns_read_records(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE j (a int, b jsonb)")
    (tmp_path / "j.ndjson").write_text('{"a": 1, "b": {}}\nnot json\n{"a": 2, "b": []}\n')
    report = load({"sources": [{"name": "j", "paths": ["j.ndjson"], "table": "j"}]})
    assert (report.records_inserted, report.records_rejected) == (2, 1)
    ((line, error),) = _rows(db, "SELECT line, error FROM pgingest.rejects")
    assert line == 2
    assert error.startswith("malformed JSON")


# --- zip archives and delimiters ---------------------------------------------------------


def test_each_member_of_a_zip_archive_is_a_file(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    with zipfile.ZipFile(tmp_path / "batch.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("2024/a.csv", "id,name\n1,a\n2,b\n")
        archive.writestr("2024/b.csv", "id,name\n3,c\n")
        archive.writestr("2024/", "")
        archive.writestr("__MACOSX/2024/._a.csv", "junk")
    report = load(_source(["*.zip"]))
    assert report.failed_files == []
    assert _rows(db, "SELECT count(*), sum(id) FROM t") == [(3, 6)]
    paths = [r[0] for r in _rows(db, "SELECT path FROM pgingest.files ORDER BY path")]
    assert paths == [f"{tmp_path}/batch.zip!/2024/a.csv", f"{tmp_path}/batch.zip!/2024/b.csv"]
    again = load(_source(["*.zip"]))
    assert (again.files_succeeded, again.files_skipped) == (0, 2)


def test_a_zip_behind_a_csv_name_loads_its_one_member(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", "id\n7\n8\n")
    (tmp_path / "data.csv").write_bytes(buffer.getvalue())
    assert load(_source(["data.csv"])).failed_files == []
    assert _rows(db, "SELECT id FROM t ORDER BY id") == [(7,), (8,)]


@pytest.mark.parametrize("delimiter", ["|", ";", "\x01", "~"])
def test_any_single_character_delimiter(
    delimiter: str, db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    rows = [["id", "name"], ["1", "a b"], ["2", "c,d"]]
    text = "".join(delimiter.join(row) + "\n" for row in rows)
    (tmp_path / "d.txt").write_text(text)
    assert load(_source(["d.txt"], csv={"delimiter": delimiter})).failed_files == []
    assert _rows(db, "SELECT id, name FROM t ORDER BY id") == [(1, "a b"), (2, "c,d")]
