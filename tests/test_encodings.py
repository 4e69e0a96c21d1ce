"""Encodings: the ``encoding`` option, byte-order marks, and where undecodable bytes are."""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.errors import ConfigError
from pgingest.summary import RunReport

TEXT = "id,name\n1,café\n2,Ωmega\n"


def _source(paths: list[str], **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": paths, "table": "t", "create": True, **extra}]}


def _names(db: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM t ORDER BY id").fetchall()]


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
    ],
)
def test_a_byte_order_mark_says_the_encoding(
    codec: str,
    bom: bytes,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    (tmp_path / "a.csv").write_bytes(bom + TEXT.encode(codec))
    report = load(_source(["a.csv"]))
    assert report.failed_files == []
    assert _names(db) == ["café", "Ωmega"]
    columns = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't' "
        "ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [("id",), ("name",)]  # the mark is not part of the first name


def test_the_source_encoding_reads_compressed_text_and_json(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(TEXT.replace("Ω", "O").encode("cp1252")))
    assert load(_source(["a.csv.gz"], encoding="cp1252")).failed_files == []
    assert _names(db) == ["café", "Omega"]
    db.execute("DROP TABLE t")
    (tmp_path / "b.ndjson").write_bytes('{"id": 1, "name": "Ωmega"}\n'.encode("utf-16"))
    assert load(_source(["b.ndjson"])).failed_files == []  # told by its mark
    assert _names(db) == ["Ωmega"]


def test_the_source_encoding_wins_over_csv_encoding(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_bytes(TEXT.replace("Ω", "O").encode("latin-1"))
    report = load(_source(["a.csv"], encoding="latin-1", csv={"encoding": "utf-8"}))
    assert report.failed_files == []
    assert _names(db) == ["café", "Omega"]


def test_undecodable_bytes_in_a_declared_encoding_name_the_line_and_byte(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_bytes(b"id,name\n1,ok\n2,caf\xe9\n")
    (failed,) = load(_source(["a.csv"], encoding="ascii")).failed_files
    assert "a.csv:3: cannot decode the file as ascii" in failed.error
    assert "at byte offset 18" in failed.error


def test_undecodable_bytes_in_declared_utf8_are_said_with_file_and_line(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "h.csv").write_bytes(b"id,caf\xe9\n1,x\n")
    (failed,) = load(_source(["h.csv"], encoding="utf-8")).failed_files
    assert "h.csv:1: the header is not valid utf-8" in failed.error
    assert '"encoding"' in failed.error
    (tmp_path / "w.fwf").write_bytes(b"1 ok\n2 \xff\xfe\n")
    layout = {
        "columns": [{"name": "id", "start": 1, "width": 1}, {"name": "v", "start": 3, "width": 2}]
    }
    source = {
        "name": "w",
        "paths": ["w.fwf"],
        "table": "w",
        "create": True,
        "fixed_width": layout,
        "encoding": "utf-8",
    }
    (failed,) = load({"sources": [source]}).failed_files
    assert "w.fwf:2: cannot decode the file as UTF-8" in failed.error


def test_an_unknown_encoding_is_a_config_error(load: Callable[..., RunReport]) -> None:
    with pytest.raises(ConfigError, match="unknown text encoding 'klingon'"):
        load(_source(["a.csv"], encoding="klingon"))
