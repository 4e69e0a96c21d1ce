"""Where a generated "events" data set lives, and how to tell it is complete.

Layout of a data set folder:

    csv/events-00.csv …       the parts as CSV (the main input)
    ndjson/events-00.ndjson … the same rows as NDJSON
    parquet/events-00.parquet the same rows as Parquet
    one/events.csv            the same rows as ONE CSV file
    small-400/events-000000.csv …  the same rows split into files of 400 rows
    small-10/events-000000.csv …   the first 200,000 rows in files of 10 rows
    dataset.json              rows, parts, seed, formats: written last, so a
                              folder without it is an interrupted generation

The small-file layouts (issue 12) are split record-aware from the same rows
(a quoted note with newlines never straddles two files), each with its own
`complete.json`, written last, so they are made only when a peer asks for them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_ROWS = 2_000_000
DEFAULT_PARTS = 8  # issue #3: eight CSV files
DEFAULT_SEED = 42
# Bump when the generator changes what it writes, so old folders are rebuilt.
GENERATOR_VERSION = 1
FORMATS = ("csv", "ndjson", "parquet", "one")
EXTENSIONS = {"csv": "csv", "ndjson": "ndjson", "parquet": "parquet"}
MANIFEST_NAME = "dataset.json"
SMALL_MANIFEST_NAME = "complete.json"


@dataclass(frozen=True, kw_only=True)
class SmallFiles:
    """A small-file layout: the data set's first ``max_files × rows_per_file`` rows."""

    rows_per_file: int
    max_files: int | None  # None: every row of the data set


# Issue 12: the 2M rows in 5,000 files of 400 rows, and 20,000 files of 10 rows.
SMALL_LAYOUTS = {
    "small-400": SmallFiles(rows_per_file=400, max_files=None),
    "small-10": SmallFiles(rows_per_file=10, max_files=20_000),
}
SMALL_FILE_PATTERN = "events-*.csv"


@dataclass(frozen=True, kw_only=True)
class DataSetSpec:
    """What a data set holds; two equal specs mean byte-identical files."""

    rows: int = DEFAULT_ROWS
    parts: int = DEFAULT_PARTS
    seed: int = DEFAULT_SEED
    formats: tuple[str, ...] = FORMATS
    is_parquet_uuid_logical: bool = False
    generator_version: int = GENERATOR_VERSION


@dataclass(frozen=True)
class DataSet:
    """A data set folder and the spec it was (or will be) generated from."""

    folder: Path
    spec: DataSetSpec

    def part_paths(self, file_format: str) -> list[Path]:
        """The part files of one format (csv, ndjson, parquet), in id order."""
        extension = EXTENSIONS[file_format]
        return [
            self.folder / file_format / f"events-{index:02d}.{extension}"
            for index in range(self.spec.parts)
        ]

    @property
    def one_csv_path(self) -> Path:
        """The single CSV file holding every row."""
        return self.folder / "one" / "events.csv"

    def paths(self, layout: str) -> list[Path]:
        """Files of a layout: a part format, "one" for the single CSV file, or a
        small-file layout's glob (thousands of paths would not fit a command line)."""
        if layout in SMALL_LAYOUTS:
            return [self.folder / layout / SMALL_FILE_PATTERN]
        return [self.one_csv_path] if layout == "one" else self.part_paths(layout)

    def rows_of(self, layout: str) -> int:
        """Rows the layout's files hold."""
        small = SMALL_LAYOUTS.get(layout)
        if small is None or small.max_files is None:
            return self.spec.rows
        return min(self.spec.rows, small.max_files * small.rows_per_file)

    def file_count(self, layout: str) -> int:
        """How many files the layout has."""
        small = SMALL_LAYOUTS.get(layout)
        if small is None:
            return 1 if layout == "one" else self.spec.parts
        return -(-self.rows_of(layout) // small.rows_per_file)

    def small_file_path(self, layout: str, index: int) -> Path:
        """The index-th file of a small-file layout."""
        return self.folder / layout / f"events-{index:06d}.csv"

    def is_small_complete(self, layout: str) -> bool:
        """True when the small-file layout was written whole for this spec."""
        marker = self.folder / layout / SMALL_MANIFEST_NAME
        if not marker.exists():
            return False
        return bool(json.loads(marker.read_text()) == self._small_manifest(layout))

    def mark_small_complete(self, layout: str) -> None:
        """Mark the small-file layout complete for this spec."""
        marker = self.folder / layout / SMALL_MANIFEST_NAME
        marker.write_text(json.dumps(self._small_manifest(layout), indent=2) + "\n")

    def _small_manifest(self, layout: str) -> dict[str, object]:
        return {
            **asdict(self.spec),
            "formats": list(self.spec.formats),
            "layout": layout,
            **asdict(SMALL_LAYOUTS[layout]),
        }

    def is_complete(self) -> bool:
        """True when the folder's manifest says it holds at least this spec's formats."""
        manifest = self.folder / MANIFEST_NAME
        if not manifest.exists():
            return False
        written = json.loads(manifest.read_text())
        formats = set(written.pop("formats", []))
        wanted = asdict(self.spec)
        wanted_formats = set(wanted.pop("formats"))
        return written == wanted and wanted_formats <= formats

    def clear(self) -> None:
        """Remove what a generation wrote here; refuse a folder that is not a data set.

        Only the layouts' subfolders and the manifest go, so a mistaken --out
        can never take anything else with it.
        """
        if not self.folder.exists():
            return
        is_data_set = (self.folder / MANIFEST_NAME).exists()
        entries = {entry.name for entry in self.folder.iterdir()}
        if not is_data_set and entries - set(FORMATS) - set(SMALL_LAYOUTS):
            raise SystemExit(f"{self.folder} holds other files than a data set; not touching it")
        (self.folder / MANIFEST_NAME).unlink(missing_ok=True)
        for layout in (*FORMATS, *SMALL_LAYOUTS):
            shutil.rmtree(self.folder / layout, ignore_errors=True)

    def write_manifest(self) -> None:
        """Mark the folder complete for this spec."""
        manifest = {**asdict(self.spec), "formats": list(self.spec.formats)}
        (self.folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")


def default_folder(root: Path, rows: int) -> Path:
    """bench/out/data/events-<rows>: git-ignored, one folder per size."""
    return root / "data" / f"events-{rows}"
