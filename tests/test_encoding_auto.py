"""``"encoding": "auto"`` (the default): UTF-8 when it is, else detected, loading as COPY would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgingest.summary import RunReport

WESTERN = [
    "Café crème",
    "naïve façade — “quoted” text",
    "€5 for Müller, Straße 7",
    "señor Ñandú, año",
    "Œuvre ‰ † ‡ • … ™ š ž Ÿ",
    "plain ascii",
]
RUSSIAN = ["Привет, мир", "съешь же ещё этих мягких французских булок", "да выпей чаю"]


def _source(path: str, table: str = "u", **extra: Any) -> dict[str, Any]:
    return {"sources": [{"name": "s", "paths": [path], "table": table, **extra}]}


def _csv(lines: list[str]) -> str:
    return "id,name,note\n" + "".join(
        f'{i},"{lines[i % len(lines)]}","row {i} {lines[(i * 7) % len(lines)]}"\n'
        for i in range(500)
    )


def _copy_oracle(db: psycopg.Connection[Any], data: bytes, encoding: str) -> None:
    db.execute("CREATE TABLE oracle (id integer, name text, note text)")
    query = f"COPY oracle FROM STDIN (FORMAT csv, HEADER true, ENCODING '{encoding}')"
    with db.cursor() as cursor, cursor.copy(query) as copy:
        copy.write(data)


@pytest.mark.parametrize(
    ("lines", "codec", "postgres"),
    [(WESTERN, "cp1252", "WIN1252"), (RUSSIAN, "cp1251", "WIN1251")],
)
def test_a_legacy_file_loads_as_copy_with_its_encoding(
    lines: list[str],
    codec: str,
    postgres: str,
    db: psycopg.Connection[Any],
    load: Callable[..., RunReport],
    tmp_path: Path,
) -> None:
    data = _csv(lines).encode(codec)
    (tmp_path / "legacy.csv").write_bytes(data)
    db.execute("CREATE TABLE u (id integer, name text, note text)")
    report = load(_source("legacy.csv"))
    assert report.failed_files == []
    assert report.records_inserted == 500
    assert report.records_rejected == 0
    assert report.encodings == {str(tmp_path / "legacy.csv"): codec}
    _copy_oracle(db, data, postgres)
    differences = db.execute(
        "SELECT count(*) FROM ((TABLE u EXCEPT TABLE oracle) UNION ALL "
        "(TABLE oracle EXCEPT TABLE u)) d"
    ).fetchone()
    assert differences == (0,)


def test_the_header_is_read_in_the_detected_encoding(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    (tmp_path / "h.csv").write_bytes("id,café\n1,crème\n2,Ñandú\n".encode("cp1252"))
    assert load(_source("h.csv", table="h", create=True)).failed_files == []
    assert db.execute('SELECT id, "café" FROM h ORDER BY id').fetchall() == [
        (1, "crème"),
        (2, "Ñandú"),
    ]


def test_mostly_utf8_stays_utf8_and_rejects_the_bad_record(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    good = "".join(f"{i},Ωmega café {i}\n" for i in range(50))
    (tmp_path / "m.csv").write_bytes(b"id,v\n" + good.encode() + b"50,caf\xe9\n")
    db.execute("CREATE TABLE u (id integer, v text)")
    report = load(_source("m.csv"))
    assert report.failed_files == []
    assert report.encodings == {}
    assert report.records_inserted == 50
    assert db.execute("SELECT line FROM pgingest.rejects").fetchall() == [(52,)]


def test_a_declared_encoding_is_used_as_it_is(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    # 0x80 is the euro sign in cp1252 and a control character in latin-1.
    (tmp_path / "e.csv").write_bytes(b"id,v\n1,\x80\n")
    db.execute("CREATE TABLE u (id integer, v text)")
    report = load(_source("e.csv", encoding="latin-1"))
    assert report.encodings == {}
    assert db.execute("SELECT v FROM u").fetchall() == [("\x80",)]


def _file(path: Path) -> Any:
    from pgingest.discover import SourceFile

    stat = path.stat()
    return SourceFile(str(path), "s", "csv", None, stat.st_size, stat.st_mtime_ns)


def _counting_scan(path: Path) -> tuple[int, int]:
    """The full counting scan's figures (invalid bytes, multi-byte characters)."""
    from pgingest.parse import encoding

    scan = encoding._Utf8Scan()
    scan.add(path.read_bytes())
    scan.finish()
    return scan.invalid, scan.multibyte


def test_the_quick_utf8_check_agrees_with_the_counting_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgingest.parse import encoding

    monkeypatch.setattr(encoding, "SCAN_BLOCK_BYTES", 7)  # characters straddle blocks
    cases = {
        "ascii": b"id,name\n1,plain\n",
        "multibyte": "id,name\n1,Привет — 東京 😀\n".encode(),
        # U+FFFD written as a valid character: the counting scan counts it as invalid
        "replacement": "id,name\n1,\ufffd\ufffd\n".encode(),
        "replacement and more": "id,name\n1,\ufffd Привет мир\n".encode(),
        "cut at the end": "id,name\n1,Привет".encode()[:-1],
        "latin-1": "id,name\n1,Café\n".encode("latin-1"),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(data)
        found = encoding._detect(_file(path))
        invalid, multibyte = _counting_scan(path)
        if invalid == 0:
            assert found.how == "utf-8", name
        elif multibyte > invalid:
            assert found.how == "mostly utf-8", name
        else:
            assert found.how == "detected", name
