"""max_reject_ratio: a file that is mostly rejects fails whole, with a hint at the likely cause."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.pipeline.unit.reject_ratio import exceeds_ratio
from pgingest.summary import RunReport
from tests.conftest import write_config

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "rain"]


def _prose(path: Path, lines: int = 117) -> None:
    """A text file: a title line, then sentences with one to four commas each."""
    body = []
    for i in range(lines):
        clauses = [
            " ".join(WORDS[(i + k) % len(WORDS) : (i + k) % len(WORDS) + 3])
            for k in range(2 + i % 4)
        ]
        body.append(", ".join(clauses) + ".")
    path.write_text("A Tale Told Twice\n" + "\n".join(body) + "\n")


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_prose_read_as_csv_fails_and_loads_nothing(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    _prose(tmp_path / "notes.csv")
    config = write_config(
        tmp_path,
        {"sources": [{"name": "notes", "paths": ["notes.csv"], "table": "notes", "create": True}]},
    )
    result = _invoke("run", str(config), "--database-url", database_url)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "117 of 117 records rejected (100%), more than max_reject_ratio (0.05)" in text
    assert "do not split into the header's columns" in text
    # The table that create made for the file is dropped again: nothing is left behind.
    assert db.execute("SELECT to_regclass('notes')").fetchone() == (None,)
    assert db.execute("SELECT count(*) FROM pgingest.rejects").fetchone() == (117,)
    assert db.execute("SELECT status FROM pgingest.files").fetchall() == [("failed",)]


def test_wrong_delimiter_is_named_in_the_hint(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    (tmp_path / "a.csv").write_text("id,name\n" + "".join(f"{i};n{i}\n" for i in range(50)))
    report = load({"sources": [{"name": "s", "paths": ["a.csv"], "table": "t"}]})
    [failed] = report.failed_files
    assert "50 of 50 records rejected" in failed.error
    assert '"delimiter": ";"' in failed.error
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


def _mostly_good(path: Path, good: int, bad: int) -> None:
    rows = [f"{i},n{i}" for i in range(good)] + [f"x{i},bad" for i in range(bad)]
    path.write_text("id,name\n" + "\n".join(rows) + "\n")


def test_past_the_ratio_the_file_fails_with_none_of_its_rows(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    _mostly_good(tmp_path / "a.csv", good=90, bad=10)
    report = load({"sources": [{"name": "s", "paths": ["a.csv"], "table": "t"}]})
    [failed] = report.failed_files
    assert "10 of 100 records rejected (10%)" in failed.error
    assert "do not read as their columns' types" in failed.error
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    # The rejects stay, so the user sees why.
    assert db.execute("SELECT count(*) FROM pgingest.rejects").fetchone() == (10,)


def test_a_source_or_the_command_line_raises_the_ratio(
    db: psycopg.Connection[Any], database_url: str, load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    _mostly_good(tmp_path / "a.csv", good=90, bad=10)
    _mostly_good(tmp_path / "b.csv", good=90, bad=10)
    source = {"name": "s", "paths": ["a.csv"], "table": "t", "max_reject_ratio": 0.2}
    assert load({"sources": [source]}).failed_files == []
    assert db.execute("SELECT count(*) FROM t").fetchone() == (90,)
    config = write_config(tmp_path, {"sources": [{"name": "s", "paths": ["b.csv"], "table": "t"}]})
    result = _invoke(
        "run", str(config), "--database-url", database_url, "--max-reject-ratio", "0.2"
    )
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT count(*) FROM t").fetchone() == (180,)
    bad = _invoke("run", str(config), "--database-url", database_url, "--max-reject-ratio", "2")
    assert bad.exit_code == 2


def test_a_few_bad_records_in_a_small_file_still_load_the_rest(
    db: psycopg.Connection[Any], load: Callable[..., RunReport], tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id int, name text)")
    _mostly_good(tmp_path / "a.csv", good=3, bad=2)
    report = load({"sources": [{"name": "s", "paths": ["a.csv"], "table": "t"}]})
    assert report.failed_files == []
    assert report.records_rejected == 2
    assert db.execute("SELECT count(*) FROM t").fetchone() == (3,)


@pytest.mark.parametrize(
    ("parsed", "rejected", "ratio", "fails"),
    [
        (0, 0, 0.05, False),
        (1, 1, 0.05, True),  # every record rejected: always a failure
        (5, 5, 0.05, True),
        (10, 5, 0.05, False),  # up to 5 never fail a file by ratio alone
        (10, 6, 0.05, True),
        (1000, 50, 0.05, False),
        (1000, 51, 0.05, True),
        (1000, 999, None, False),  # no limit
        (1000, 1000, None, False),
    ],
)
def test_the_rule(parsed: int, rejected: int, ratio: float | None, fails: bool) -> None:
    assert exceeds_ratio(parsed=parsed, rejected=rejected, ratio=ratio) is fails
