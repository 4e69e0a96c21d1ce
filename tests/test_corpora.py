"""Real-data acceptance: every table-like file of ../shared/corpora loads, or fails clearly.

Each corpus runs as one ``pgingest run`` (a subprocess, so a crash, a hang or a
memory blow-up shows as such) with one source per file, ``create: true`` and
``max_rejects: 0``: a file either loads every record, or fails with a
classified error. Loaded files must hold the number of rows the data set
states (Rdatasets' ``datasets.csv``) or an independent reader counts (Python's
csv and json modules, Parquet footers, calamine for spreadsheets). Rdatasets
tables present as CSV and Parquet must load to the same rows from either.

``PGINGEST_CORPUS_SUMMARY=folder`` writes each corpus's results there as JSON
(the README's table is made from them).
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from pgingest.errors import ParseError
from pgingest.parse.header_row import find_header
from pgingest.parse.sniff import Dialect, read_sample, sniff_dialect
from tests.conftest import CORPORA

pytestmark = pytest.mark.slow

# The formats issue 7 names: delimited text, JSON, Parquet and spreadsheets, plain or compressed.
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".ndjson", ".jsonl", ".parquet", ".xlsx", ".xls", ".ods")
COMPRESSION_SUFFIXES = (".gz", ".zst", ".bz2", ".xz")
# A whole corpus must load in this long; one that takes longer has hung somewhere.
RUN_TIMEOUT_SECONDS = 900
# Resident memory one corpus run may peak at (the largest file is under 4 MiB).
PEAK_MEMORY_BYTES = 2 << 30
# Parquet files that are stale upstream: not compared with their CSV twins.
STALE_PARQUET = {
    "datasets/USPersonalExpenditure",
    "datasets/sunspot.month",
    "dplyr/storms",
    "dslabs/results_us_election_2016",
}
INTERNAL = "internal error"
# Files that meet bugs outside the readers (reported; each entry goes when its fix lands).
# They must still fail as files (the run goes on); remove an entry when its fix lands.
# Files that fail with an internal error for a known, reported pgingest bug
# (relative to the corpora folder); none are left.
KNOWN_INTERNAL_ERRORS: set[str] = set()


def corpus_files(corpus: str) -> list[Path]:
    """The corpus's files in the formats under test, plain or compressed."""
    found = []
    for path in sorted((CORPORA / corpus).rglob("*")):
        if not path.is_file():
            continue
        name = path.name.lower()
        for suffix in COMPRESSION_SUFFIXES:
            name = name.removesuffix(suffix)
        if name.endswith(TABLE_SUFFIXES):
            found.append(path)
    return found


# --- independent counts ---------------------------------------------------------------


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            (member,) = archive.namelist()
            data = archive.read(member)
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    if data[:3] == b"BZh":
        import bz2

        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        import lzma

        return lzma.decompress(data)
    return data


def _rdatasets_rows() -> dict[str, set[int]]:
    # Keyed case-insensitively: datasets/CO2 and datasets/co2 share one file name on a
    # case-insensitive disk, and the corpus holds the second one's rows under CO2.csv.
    rows: dict[str, set[int]] = {}
    with open(CORPORA / "Rdatasets" / "datasets.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(f"{row['Package']}/{row['Item']}".lower(), set()).add(int(row["Rows"]))
    return rows


def _decoded(data: bytes) -> str:
    for bom, codec in ((b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, "replace")
    return data.decode("utf-8", "replace").removeprefix("\ufeff")


def _csv_rows(path: Path) -> set[int] | None:
    """Python's csv module's count, and COPY's (a quote in mid-field starts a quoted part).

    Both with the delimiter and quote pgingest sniffs (csv.delimiter "auto").
    """
    text = _decoded(_open_bytes(path))
    try:
        sample, is_complete = read_sample(io.BytesIO(text.encode("utf-8")))
        dialect = sniff_dialect(sample, is_complete=is_complete)
    except ParseError:
        dialect = Dialect(",", '"')  # the file fails, clearly; any count will do
    quote = dialect.quote or '"'
    try:
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=dialect.delimiter, quotechar=quote
        )
        rows = [r for r in reader if r]
    except csv.Error:
        return None
    return {max(len(rows) - 1, 0), *_copy_csv_rows(text, dialect.delimiter, quote)}


def _copy_csv_rows(text: str, delimiter: str = ",", quote: str = '"') -> set[int]:
    """Records as COPY (FORMAT csv) ends them: at a line break where the quotes so far pair up.

    A one-column file's blank lines are records (NULL); a quote left open at the
    end may count as a record or not (COPY refuses such a file).
    """
    lines = re.split(r"\r\n|\n|\r", text)
    if lines and lines[-1] == "":
        lines.pop()
    is_one_column = bool(lines) and delimiter not in lines[0]
    records, quotes, pending = 0, 0, ""
    for line in lines:
        pending += line
        quotes += line.count(quote)
        if quotes % 2 == 0:
            records += 1 if (pending or is_one_column) else 0
            pending, quotes = "", 0
    return {max(records - 1, 0), max(records - 1 + (1 if pending else 0), 0)}


def _text_format_rows(path: Path) -> set[int]:
    """Records of a .tsv read as COPY's text format: one a line, no quoting, after the header."""
    lines = re.split(r"\r\n|\n", _decoded(_open_bytes(path)))
    if lines and lines[-1] == "":
        lines.pop()
    return {max(len(lines) - 1, 0)}


def _json_rows(path: Path) -> int | None:
    data = _open_bytes(path)
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        lines = [line for line in data.splitlines() if line.strip()]
        return len(lines) if lines else None
    if isinstance(value, list):
        return len(value)
    return 1 if isinstance(value, dict) else None


def _parquet_rows(path: Path) -> int | None:
    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, ValueError):
        return None


def _sheet_rows(path: Path) -> int | None:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).to_python()
    except (CalamineError, ValueError, OSError):
        return None
    filled = [r for r in rows if any(c not in (None, "") for c in r)]
    # Title rows above the header are not records (parse/header_row.py finds the header).
    titles = len(find_header(iter(enumerate(rows, start=1))).skipped)
    return max(len(filled) - 1 - titles, 0)


def expected_rows(path: Path, rdatasets: dict[str, set[int]]) -> set[int] | None:
    """The row counts the data set states, or an independent reader's; None when unknown."""
    relative = path.relative_to(CORPORA).parts
    if relative[0] == "Rdatasets" and relative[1] in ("csv", "parquet"):
        table = f"{relative[2]}/{Path(relative[3]).stem}"
        if relative[1] == "parquet" and _is_stale(table):
            found = _parquet_rows(path)  # stale upstream: datasets.csv describes the CSV
            return None if found is None else {found}
        return rdatasets.get(table.lower())
    return _counted_rows(path)


def _is_stale(table: str) -> bool:
    return table in STALE_PARQUET or table.startswith("Lahman/")


def _counted_rows(path: Path) -> set[int] | None:
    name = path.name.lower()
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    if name.endswith(".csv"):
        return _csv_rows(path)
    if name.endswith(".tsv"):
        return _text_format_rows(path)
    if name.endswith((".json", ".ndjson", ".jsonl")):
        found = _json_rows(path)
    elif name.endswith(".parquet"):
        found = _parquet_rows(path)
    else:
        found = _sheet_rows(path)
    return None if found is None else {found}


# --- the run --------------------------------------------------------------------------


def _config(files: list[Path]) -> dict[str, Any]:
    return {
        "settings": {"max_rejects": 0, "retry": {"file": {"attempts": 1}}},
        "sources": [
            {"name": f"f{i}", "paths": [glob.escape(str(path))], "table": f"t{i}", "create": True}
            for i, path in enumerate(files)
        ],
    }


def _run(config_path: Path, report_path: Path, database_url: str) -> tuple[float, int]:
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgingest",
            "run",
            str(config_path),
            "--database-url",
            database_url,
            "--report",
            str(report_path),
            "--quiet",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "PGINGEST_LOG": "error"},
    )
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert completed.returncode in (0, 1), completed.stderr[-3000:]
    assert report_path.exists(), completed.stderr[-3000:]
    return seconds, peak


def _outcomes(conn: psycopg.Connection[Any], report: dict[str, Any]) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    for path, status, rows, error in conn.execute(
        "SELECT DISTINCT ON (path) path, status, rows, error FROM pgingest.files "
        "ORDER BY path, id DESC"
    ).fetchall():
        outcome[path] = ("loaded", rows) if status == "loaded" else ("failed", error)
    for failed in report["failed_files"]:
        outcome.setdefault(failed["path"], ("failed", failed["error"]))
    return outcome


def reason_of(error: str) -> str:
    """A failure's category, for the README's table (never for pgingest's own logic)."""
    text = error.lower()
    categories = [
        ("delimited by another character (set csv.delimiter)", ("looks delimited", "reads as")),
        ("column name over 63 bytes (PostgreSQL shortens it)", ("not in table",)),
        ("not UTF-8 (needs an encoding)", ("utf-8", "decode", "encoding")),
        ("ragged rows", ("fields, found", "csv parse error")),
        ("header: blank, duplicate or NUL names", ("has no name", "names column", "nul byte")),
        ("more than 1,600 columns", ("1600", "1,600", "too many columns")),
        ("malformed JSON or not records", ("json", "no column of the file")),
        ("corrupt or unsupported Parquet", ("parquet",)),
        ("empty file", ("empty",)),
        ("value does not fit its column", ("rejected",)),
        ("corrupt or unreadable file", ("cannot read", "cannot parse", "corrupt")),
    ]
    for label, words in categories:
        if any(word in text for word in words):
            return label
    return "other"


CORPUS_NAMES = ["vega-datasets", "frictionless-py", "duckdb", "Rdatasets"]


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not present")
@pytest.mark.parametrize("corpus", CORPUS_NAMES)
def test_every_corpus_file_loads_with_its_row_count_or_fails_clearly(
    corpus: str, database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    files = corpus_files(corpus)
    assert files, f"no files found in {corpus}"
    config_path = tmp_path / "data_files.json"
    config_path.write_text(json.dumps(_config(files)), encoding="utf-8")
    report_path = tmp_path / "report.json"
    seconds, peak = _run(config_path, report_path, database_url)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    outcomes = _outcomes(db, report)
    rdatasets = _rdatasets_rows()
    problems: list[str] = []
    loaded = 0
    reasons: Counter[str] = Counter()
    details: dict[str, Any] = {}
    for path in files:
        key = str(path)
        outcome = outcomes.get(key)
        expected = expected_rows(path, rdatasets)
        if outcome is None:
            problems.append(f"{key}: neither loaded nor failed")
            continue
        kind, value = outcome
        details[key] = {
            "outcome": kind,
            "value": value,
            "expected": sorted(expected) if expected is not None else None,
        }
        if kind == "loaded":
            loaded += 1
            if expected is not None and value not in expected:
                problems.append(f"{key}: loaded {value} rows, expected {sorted(expected)}")
        elif not value or INTERNAL in value:
            if str(path.relative_to(CORPORA)) in KNOWN_INTERNAL_ERRORS:
                reasons["pgingest bug outside the readers (reported)"] += 1
            else:
                problems.append(f"{key}: failed without a classified error: {value}")
        else:
            reasons[reason_of(value)] += 1
    summary = {
        "corpus": corpus,
        "files": len(files),
        "loaded": loaded,
        "failed": len(files) - loaded,
        "reasons": dict(reasons.most_common()),
        "seconds": round(seconds, 1),
        "peak_memory_bytes": peak,
    }
    folder = os.environ.get("PGINGEST_CORPUS_SUMMARY")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{corpus}.json").write_text(
            json.dumps({**summary, "details": details}, indent=1), encoding="utf-8"
        )
    print(json.dumps(summary))
    assert not problems, "\n".join(problems[:50]) + f"\n({len(problems)} problems)"
    assert peak < PEAK_MEMORY_BYTES
    if corpus == "Rdatasets":
        _assert_same_rows_from_csv_and_parquet(files, outcomes)


def _assert_same_rows_from_csv_and_parquet(files: list[Path], outcomes: dict[str, Any]) -> None:
    by_table: dict[str, dict[str, Any]] = {}
    for path in files:
        kind = path.parts[-3]  # csv or parquet
        name = f"{path.parts[-2]}/{path.stem}"
        by_table.setdefault(name, {})[kind] = outcomes.get(str(path))
    compared = 0
    mismatched = []
    for name, pair in sorted(by_table.items()):
        if _is_stale(name):
            continue
        csv_outcome, parquet_outcome = pair.get("csv"), pair.get("parquet")
        if not csv_outcome or not parquet_outcome:
            continue
        if csv_outcome[0] == "loaded" and parquet_outcome[0] == "loaded":
            compared += 1
            if csv_outcome[1] != parquet_outcome[1]:
                mismatched.append(f"{name}: csv {csv_outcome[1]}, parquet {parquet_outcome[1]}")
    assert compared > 400
    assert not mismatched, mismatched
