"""Every CSV/TSV of ../shared/corpora that COPY reads into all-text columns: same table by pgingest.

For each file the server's own ``COPY ... FROM STDIN`` (FORMAT csv for .csv,
FORMAT text for .tsv, HEADER) fills a table of text columns named by the
header; pgingest loads the same file into a copy of that table; the two must
hold the same rows (EXCEPT ALL both ways, NULLs included). Files COPY refuses
(not UTF-8, ragged, blank lines) and headers pgingest refuses by design
(blank or duplicate names) are left out.

CI loads every STRIDE-th file of the two big corpora (and all of the small
ones); ``PGINGEST_CORPUS_ALL=1`` loads every file.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgingest.report.run_report import RunReport
from tests.conftest import CORPORA
from tests.test_corpora import _open_bytes, corpus_files

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not present"),
]

# Every file of the small corpora; every STRIDE-th of the big ones keeps CI fast.
STRIDE = {"vega-datasets": 1, "frictionless-py": 1, "duckdb": 4, "Rdatasets": 8}
DELIMITED = (".csv", ".tsv")
# PostgreSQL truncates longer identifiers; such headers are tested in test_parse_fidelity.
MAX_NAME_BYTES = 63
csv.field_size_limit(1 << 30)  # some headers hold very long fields
# Files COPY reads and pgingest fails (clearly), with why. COPY skips a header
# line without parsing it; pgingest must parse it to name the columns.
_UNTERMINATED = (
    "unterminated_quote_multi_line",
    "unterminated_quote_escape",
    "unterminated_escape",
)
KNOWN_DIFFERENCES = {
    f"duckdb/data/csv/multidelimiter/{name}.csv": "the whole file is one unterminated quote"
    for name in _UNTERMINATED
}


def _files(corpus: str) -> list[Path]:
    stride = 1 if os.environ.get("PGINGEST_CORPUS_ALL") else STRIDE[corpus]
    found = []
    for path in corpus_files(corpus):
        name = path.name.lower()
        for suffix in (".gz", ".zst", ".bz2", ".xz"):
            name = name.removesuffix(suffix)
        if name.endswith(DELIMITED):
            found.append(path)
    return found[::stride]


def _header(data: bytes, is_tsv: bool) -> list[str] | None:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    if is_tsv:
        first = text.split("\n", 1)[0].removesuffix("\r")
        return None if "\\" in first else first.split("\t")
    return next(csv.reader(io.StringIO(text, newline="")), None)


def _usable(names: list[str] | None) -> bool:
    return (
        bool(names)
        and all(
            n and "\x00" not in n and len(n.encode()) <= MAX_NAME_BYTES and n == n.strip()
            for n in names or []
        )
        and len({n.lower() for n in names or []}) == len(names or [])
    )


def _copy_by_server(
    db: psycopg.Connection[Any], table: str, names: list[str], data: bytes, is_tsv: bool
) -> bool:
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(n)) for n in names)
    fmt = sql.SQL("text" if is_tsv else "csv")
    try:
        with db.transaction():
            db.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), columns))
            db.execute(
                sql.SQL("CREATE TABLE {} (LIKE {})").format(
                    sql.Identifier(table + "_p"), sql.Identifier(table)
                )
            )
            query = sql.SQL("COPY {} FROM STDIN (FORMAT {}, HEADER true)").format(
                sql.Identifier(table), fmt
            )
            with db.cursor() as cursor, cursor.copy(query) as copy:
                copy.write(data)
    except psycopg.Error:
        return False
    return True


@pytest.mark.parametrize("corpus", sorted(STRIDE))
def test_pgingest_makes_the_table_copy_makes(
    corpus: str, db: psycopg.Connection[Any], load: Callable[..., RunReport]
) -> None:
    sources = []
    for index, path in enumerate(_files(corpus)):
        data = _open_bytes(path)
        if str(path.relative_to(CORPORA)) in KNOWN_DIFFERENCES:
            continue
        if data.startswith(codecs.BOM_UTF8):
            continue  # COPY keeps the mark in the first name; pgingest drops it
        is_tsv = ".tsv" in path.name.lower()
        names = _header(data, is_tsv)
        table = f"f{index}"
        if not _usable(names) or not _copy_by_server(db, table, names or [], data, is_tsv):
            continue
        sources.append({"name": table, "paths": [glob.escape(str(path))], "table": table + "_p"})
    assert sources
    report = load({"settings": {"max_rejects": 0}, "sources": sources})
    failed = {f.source: f.error for f in report.failed_files}
    different = []
    for source in sources:
        table = str(source["name"])
        query = sql.SQL(
            "SELECT count(*) FROM ((TABLE {a} EXCEPT ALL TABLE {b}) "
            "UNION ALL (TABLE {b} EXCEPT ALL TABLE {a})) d"
        ).format(a=sql.Identifier(table), b=sql.Identifier(table + "_p"))
        row = db.execute(query).fetchone()
        if table not in failed and row != (0,):
            different.append(source["paths"][0])
    assert failed == {}, "\n".join(failed.values())
    assert different == []
