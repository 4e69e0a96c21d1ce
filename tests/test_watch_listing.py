"""An event's path is matched against a source's patterns exactly as glob.glob lists them."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from pgingest.watch.listing import matches_pattern, watched_folders
from tests.conftest import write_config

FILES = [
    "a.csv",
    "b.tsv",
    ".hidden.csv",
    "x/a.csv",
    "x/y/b.csv",
    "x/.z/c.csv",
    ".q/d.csv",
    "x/y/z/e.csv",
    "[a].csv",
    "x/y/.f.csv",
    ".pgingest/data/base.csv",
]
PATTERNS = [
    "*.csv",
    "**/*.csv",
    "x/*.csv",
    "x/**/*.csv",
    "**",
    "x/**",
    "*/*/*.csv",
    "?.csv",
    "[ab].*",
    "x/y/*",
    "**/.hidden.csv",
    ".*.csv",
    "**/b.csv",
    "x/**/z/*.csv",
    "x/y/b.csv",
    "[[]a].csv",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_matches_pattern_agrees_with_glob(tmp_path: Path, pattern: str) -> None:
    for name in FILES:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id\n1\n", encoding="utf-8")
    full = str(tmp_path / pattern)
    listed = {
        os.path.abspath(m)
        for m in glob.glob(full, recursive=True)
        if os.path.isfile(m) and ".pgingest" not in m.split(os.sep)
    }
    matched = {str(tmp_path / n) for n in FILES if matches_pattern(full, str(tmp_path / n))}
    assert matched == listed


def test_watched_folders_are_the_fixed_part_of_each_existing_pattern(tmp_path: Path) -> None:
    (tmp_path / "in" / "deep").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    config_path = write_config(
        tmp_path,
        {
            "sources": [
                {"name": "a", "paths": ["in/*.csv", "in/deep/**/*.csv"], "table": "a"},
                {"name": "b", "paths": ["other/x.csv", "missing/*.csv"], "table": "b"},
                {"name": "c", "paths": ["s3://bucket/prefix/*.csv"], "table": "c"},
            ]
        },
    )
    from pgingest.config import load_config

    assert watched_folders(load_config(config_path)) == [
        str(tmp_path / "in"),
        str(tmp_path / "other"),
    ]
