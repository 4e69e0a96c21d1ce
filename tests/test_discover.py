"""Discovery: glob patterns, several per source, de-duplicated and sorted; clear misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgingest.config import parse_config
from pgingest.discover import detect_compression, detect_format, discover_files
from pgingest.errors import SourceError


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a\n1\n")


def _found(tmp_path: Path, *patterns: str) -> list[str]:
    config = parse_config(
        {"sources": [{"name": "s", "paths": list(patterns), "table": "t"}]}, base_dir=tmp_path
    )
    (result,) = discover_files(config)
    return [str(Path(f.path).relative_to(tmp_path)) for f in result.files]


def test_glob_features(tmp_path: Path) -> None:
    _touch(tmp_path, "a1.csv", "a2.csv", "b1.csv", "x/deep/c.csv", "x/d.tsv", "z.json")
    assert _found(tmp_path, "a?.csv") == ["a1.csv", "a2.csv"]
    assert _found(tmp_path, "[ab]1.csv") == ["a1.csv", "b1.csv"]
    assert _found(tmp_path, "**/*.csv") == ["a1.csv", "a2.csv", "b1.csv", "x/deep/c.csv"]
    assert _found(tmp_path, "x/*") == ["x/d.tsv"]


def test_several_patterns_deduplicated_and_sorted(tmp_path: Path) -> None:
    _touch(tmp_path, "b.csv", "a.csv")
    assert _found(tmp_path, "b.csv", "*.csv", "a.csv") == ["a.csv", "b.csv"]


def test_pattern_matching_nothing_is_a_warning(tmp_path: Path) -> None:
    _touch(tmp_path, "a.csv")
    config = parse_config(
        {"sources": [{"name": "s", "paths": ["*.csv", "none-*.csv"], "table": "t"}]},
        base_dir=tmp_path,
    )
    (result,) = discover_files(config)
    assert len(result.files) == 1
    assert result.unmatched_patterns == [str(tmp_path / "none-*.csv")]
    assert result.problems == []


def test_missing_plain_path_and_folder_are_problems(tmp_path: Path) -> None:
    (tmp_path / "folder.csv").mkdir()
    config = parse_config(
        {"sources": [{"name": "s", "paths": ["missing.csv", "folder.csv"], "table": "t"}]},
        base_dir=tmp_path,
    )
    (result,) = discover_files(config)
    messages = sorted(p.describe() for p in result.problems)
    assert any("missing.csv: file not found" in m for m in messages)
    assert any("folder.csv: is a folder, not a file" in m for m in messages)


def test_embedded_database_folder_is_never_a_source(tmp_path: Path) -> None:
    _touch(tmp_path, "a.csv", ".pgingest/pgdata/x.csv")
    assert _found(tmp_path, "**/*.csv") == ["a.csv"]


@pytest.mark.parametrize(
    ("name", "expected_format", "expected_compression"),
    [
        ("e.csv", "csv", None),
        ("e.csv.gz", "csv", "gzip"),
        ("e.tsv.zst", "tsv", "zstd"),
        ("e.ndjson.bz2", "ndjson", "bz2"),
        ("e.jsonl.xz", "ndjson", "xz"),
        ("e.json", "json", None),
        ("E.PARQUET", "parquet", None),
    ],
)
def test_format_and_compression_from_extension(
    name: str, expected_format: str, expected_compression: str | None
) -> None:
    assert detect_format(name) == expected_format
    assert detect_compression(name) == expected_compression


def test_unknown_extension_asks_for_format() -> None:
    with pytest.raises(SourceError, match='set "format"'):
        detect_format("data.bin")
    assert detect_format("data.bin", "csv") == "csv"
