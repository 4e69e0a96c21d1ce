"""Generate the "events" benchmark data set (issue #3): CSV parts, NDJSON, Parquet, one CSV.

    python bench/generate.py --rows 2000000 --out bench/out/data/events-2000000

Deterministic: the same --rows, --files and --seed write the same bytes.
"""

from __future__ import annotations

import argparse
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


def ensure_generated(data_set: DataSet) -> None:
    """Generate the data set unless its folder already holds it."""
    if not data_set.is_complete():
        generate(data_set)


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
    generate(DataSet(folder, spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
