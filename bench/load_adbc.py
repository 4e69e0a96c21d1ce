"""Peer: ADBC `adbc_ingest` of pyarrow-parsed, correctly typed CSV, one connection per worker.

Each worker takes the next file, parses it with pyarrow's streaming CSV reader
straight into the table's Arrow types (uuid text becomes 16 raw bytes, as
binary COPY wants), and hands the batch stream to `adbc_ingest`, which sends
it with binary COPY in one transaction per file.

    python bench/load_adbc.py --database-url URL --workers 2 FILE...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
import pyarrow.csv as pcsv

from events import TABLE_NAME, TABLE_SCHEMA
from events_arrow import ARROW_SCHEMA
from uuids import uuid_text_to_bytes

# pyarrow's default block (1 MiB) gives ~4,000-row batches here; 16 MiB
# batches cut the per-batch overhead on both sides of the COPY.
CSV_BLOCK_BYTES = 16 << 20
READ_OPTIONS = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
# Quoted newlines occur in the note column; only unquoted empty fields are NULL.
PARSE_OPTIONS = pcsv.ParseOptions(newlines_in_values=True)
_TEXT_UUID_SCHEMA = pa.schema(
    [
        pa.field(field.name, pa.string()) if field.type == pa.uuid() else field
        for field in ARROW_SCHEMA
    ]
)
CONVERT_OPTIONS = pcsv.ConvertOptions(
    column_types=_TEXT_UUID_SCHEMA,
    null_values=[""],
    strings_can_be_null=True,
    quoted_strings_can_be_null=False,
)


def typed_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The file's rows as record batches of ARROW_SCHEMA."""
    with pcsv.open_csv(
        path,
        read_options=READ_OPTIONS,
        parse_options=PARSE_OPTIONS,
        convert_options=CONVERT_OPTIONS,
    ) as reader:
        for batch in reader:
            columns = [
                uuid_text_to_bytes(column) if field.type == pa.uuid() else column
                for field, column in zip(ARROW_SCHEMA, batch.columns, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=ARROW_SCHEMA)


def ingest_file(database_url: str, path: Path) -> None:
    """Append one file's rows over a connection of its own, in one transaction."""
    stream = pa.RecordBatchReader.from_batches(ARROW_SCHEMA, typed_batches(path))
    with adbc.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest(TABLE_NAME, stream, mode="append", db_schema_name=TABLE_SCHEMA)
        connection.commit()


def main(argv: list[str] | None = None) -> int:
    """Ingest every file given, `--workers` at a time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("files", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    with ThreadPoolExecutor(arguments.workers) as pool:
        list(pool.map(lambda path: ingest_file(arguments.database_url, path), arguments.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
