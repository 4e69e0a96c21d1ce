"""Generate the "events" benchmark data set (issue #3): CSV parts, NDJSON, Parquet, one CSV.

    python bench/generate.py --rows 2000000 --out bench/out/data/events-2000000

Deterministic: the same --rows, --files and --seed write the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa

from dataset import (
    DEFAULT_PARTS,
    DEFAULT_ROWS,
    DEFAULT_SEED,
    FORMATS,
    SMALL_LAYOUTS,
    DataSet,
    DataSetSpec,
    default_folder,
)
from events_arrow import ARROW_SCHEMA
from synth import PartSpec, synthesize_part
from writers import as_text_uuids, open_csv_writer, write_csv, write_ndjson, write_parquet

BENCH_OUT = Path(__file__).resolve().parent / "out"


def part_specs(spec: DataSetSpec) -> Iterator[PartSpec]:
    """Split the rows into spec.parts nearly equal parts; ids start at 1."""
    base, extra = divmod(spec.rows, spec.parts)
    first_id = 1
    for index in range(spec.parts):
        rows = base + (1 if index < extra else 0)
        yield PartSpec(seed=spec.seed, index=index, first_id=first_id, rows=rows)
        first_id += rows


def generate(data_set: DataSet, *, log: bool = True) -> None:
    """Write every format of the data set into its folder, then its manifest."""
    spec = data_set.spec
    data_set.clear()
    for file_format in spec.formats:
        (data_set.folder / file_format).mkdir(parents=True)
    started = time.perf_counter()
    with ExitStack() as stack:
        one_writer = None
        if "one" in spec.formats:
            one_writer = stack.enter_context(open_csv_writer(data_set.one_csv_path, ARROW_SCHEMA))
        for part in part_specs(spec):
            table = synthesize_part(part)
            _write_part(data_set, part.index, table)
            if one_writer is not None:
                one_writer.write_table(as_text_uuids(table))
            if log:
                print(f"part {part.index + 1}/{spec.parts}: {part.rows:,} rows", file=sys.stderr)
    data_set.write_manifest()
    if log:
        seconds = time.perf_counter() - started
        print(f"{spec.rows:,} rows in {seconds:.1f} s → {data_set.folder}", file=sys.stderr)


def _write_part(data_set: DataSet, index: int, table: pa.Table) -> None:
    formats = data_set.spec.formats
    if "csv" in formats:
        write_csv(table, data_set.part_paths("csv")[index])
    if "ndjson" in formats:
        write_ndjson(table, data_set.part_paths("ndjson")[index])
    if "parquet" in formats:
        write_parquet(
            table,
            data_set.part_paths("parquet")[index],
            is_uuid_logical=data_set.spec.is_parquet_uuid_logical,
        )


def ensure_generated(data_set: DataSet, *, layouts: tuple[str, ...] = ()) -> None:
    """Generate the data set unless its folder already holds it, and each small layout asked."""
    if not data_set.is_complete():
        generate(data_set)
    for layout in layouts:
        if layout in SMALL_LAYOUTS and not data_set.is_small_complete(layout):
            generate_small_files(data_set, layout)


def generate_small_files(data_set: DataSet, layout: str, *, log: bool = True) -> None:
    """Split the data set's rows, in id order, into files of the layout's rows per file.

    The rows come from the same synthesis as every other layout, so a load of
    the small files must give the same checksum as a load of the 8 parts (over
    the same number of rows). Splitting Arrow rows, not text lines, keeps every
    record (newlines in quoted notes included) whole in one file.
    """
    small = SMALL_LAYOUTS[layout]
    folder = data_set.folder / layout
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    wanted = data_set.rows_of(layout)
    written = 0
    index = 0
    pending: list[pa.Table] = []
    for part in part_specs(data_set.spec):
        if written >= wanted:
            break
        pending.append(synthesize_part(part))
        table = pa.concat_tables(pending).slice(0, wanted - written)
        whole = table.num_rows - table.num_rows % small.rows_per_file
        is_last = written + table.num_rows >= wanted
        end = table.num_rows if is_last else whole
        for start in range(0, end, small.rows_per_file):
            piece = table.slice(start, min(small.rows_per_file, end - start))
            write_csv(piece, data_set.small_file_path(layout, index))
            index += 1
        written += end
        pending = [table.slice(end)] if end < table.num_rows else []
    data_set.mark_small_complete(layout)
    if log:
        seconds = time.perf_counter() - started
        print(f"{layout}: {written:,} rows in {index:,} files in {seconds:.1f} s", file=sys.stderr)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of generate.py."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in all")
    parser.add_argument("--files", type=int, default=DEFAULT_PARTS, help="part files per format")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help="comma list of csv, ndjson, parquet, one (the single CSV file)",
    )
    parser.add_argument(
        "--small",
        default="",
        help="comma list of small-file layouts to write too: " + ", ".join(SMALL_LAYOUTS),
    )
    parser.add_argument(
        "--parquet-uuid-logical",
        action="store_true",
        help="write session_id to Parquet as the UUID logical type instead of text",
    )
    parser.add_argument("--out", type=Path, help="folder; default bench/out/data/events-ROWS")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate the data set the arguments describe."""
    arguments = parse_arguments(argv)
    formats = tuple(name.strip() for name in arguments.formats.split(",") if name.strip())
    unknown = set(formats) - set(FORMATS)
    if unknown:
        print(f"unknown format(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    spec = DataSetSpec(
        rows=arguments.rows,
        parts=arguments.files,
        seed=arguments.seed,
        formats=formats,
        is_parquet_uuid_logical=arguments.parquet_uuid_logical,
    )
    folder = arguments.out or default_folder(BENCH_OUT, arguments.rows)
    small = tuple(name.strip() for name in arguments.small.split(",") if name.strip())
    unknown_small = set(small) - set(SMALL_LAYOUTS)
    if unknown_small:
        print(f"unknown small-file layout(s): {', '.join(sorted(unknown_small))}", file=sys.stderr)
        return 2
    data_set = DataSet(folder, spec)
    generate(data_set)
    for layout in small:
        generate_small_files(data_set, layout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
