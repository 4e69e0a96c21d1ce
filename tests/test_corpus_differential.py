"""Every CSV/TSV of ../shared/corpora that COPY reads into all-text columns: same table by pgingest.

For each file the server's own ``COPY ... FROM STDIN`` (FORMAT csv for .csv,
with the delimiter and quote pgingest sniffs; FORMAT text for .tsv; HEADER)
fills a table of text columns named by the header; pgingest loads the same
file into a copy of that table; the two must hold the same rows (EXCEPT ALL
both ways, NULLs included). Files COPY refuses (not UTF-8, ragged, blank
lines) and headers pgingest refuses by design (blank or duplicate names) are
left out. A file sniffed off COPY's default ``,`` must split worse with ``,``.

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

from pgingest.errors import ParseError
from pgingest.parse.sniff import Dialect, read_sample, sniff_dialect
from pgingest.summary import RunReport
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


def _header(data: bytes, is_tsv: bool, dialect: Dialect) -> list[str] | None:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    if is_tsv:
        first = text.split("\n", 1)[0].removesuffix("\r")
        return None if "\\" in first else first.split("\t")
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=dialect.delimiter, quotechar=dialect.quote or '"'
    )
    return next(reader, None)


def _sniffed(data: bytes) -> Dialect | None:
    """The dialect pgingest's "auto" reads the file with; None when it fails the file."""
    try:
        sample, is_complete = read_sample(io.BytesIO(data))
        return sniff_dialect(sample, is_complete=is_complete)
    except ParseError:
        return None  # two delimiters fit alike: the file fails clearly (test_sniff.py)


def _splits_better_than_comma(data: bytes, dialect: Dialect) -> bool:
    """Whether a file read off ``,`` is no CSV file of ``,``: its records split worse there.

    Counted over the whole file with Python's csv module (not pgingest's sample):
    under ``,`` the header has one field, the records do not all match the
    header, or they split into fewer fields than under the sniffed dialect.
    """
    text = data.decode("utf-8", "replace")

    def shape(delimiter: str, quote: str) -> tuple[int, int, int]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote)
        records = [r for r in reader if r]
        width = len(records[0]) if records else 0
        return width, sum(len(r) == width for r in records[1:]), len(records) - 1

    width, consistent, total = shape(",", '"')
    sniffed_width, sniffed_consistent, _ = shape(dialect.delimiter, dialect.quote or '"')
    return (
        width < 2 or consistent < total or sniffed_consistent > consistent or sniffed_width > width
    )


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
    db: psycopg.Connection[Any],
    table: str,
    names: list[str],
    data: bytes,
    is_tsv: bool,
    dialect: Dialect,
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
            dialect_options = sql.SQL(", DELIMITER {}, QUOTE {}").format(
                sql.Literal(dialect.delimiter), sql.Literal(dialect.quote or '"')
            )
            query = sql.SQL("COPY {} FROM STDIN (FORMAT {}, HEADER true{})").format(
                sql.Identifier(table), fmt, sql.SQL("") if is_tsv else dialect_options
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
    off_comma = []  # files sniffed off COPY's default dialect that read just as well with ,
    for index, path in enumerate(_files(corpus)):
        data = _open_bytes(path)
        if str(path.relative_to(CORPORA)) in KNOWN_DIFFERENCES:
            continue
        if data.startswith(codecs.BOM_UTF8):
            continue  # COPY keeps the mark in the first name; pgingest drops it
        is_tsv = ".tsv" in path.name.lower()
        # COPY gets the dialect pgingest sniffs ("auto"), so both split the same records.
        dialect = Dialect("\t", '"') if is_tsv else _sniffed(data)
        if dialect is None:
            continue
        if not is_tsv and not dialect.is_default and not _splits_better_than_comma(data, dialect):
            off_comma.append(str(path))
        names = _header(data, is_tsv, dialect)
        table = f"f{index}"
        if not _usable(names) or not _copy_by_server(db, table, names or [], data, is_tsv, dialect):
            continue
        sources.append({"name": table, "paths": [glob.escape(str(path))], "table": table + "_p"})
    assert sources
    assert off_comma == []  # sniffing never moves a file that reads well with , off it
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
