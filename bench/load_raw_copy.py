"""Peer: raw CSV bytes through `COPY ... FROM STDIN (FORMAT csv, HEADER)`, N connections.

The fastest thing a careful user can script: no parsing on the client at all,
each file streamed in 1 MiB chunks over its own connection, N files at a time,
each file in its own transaction.

    python bench/load_raw_copy.py --database-url URL --workers 2 FILE...
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from psycopg import sql

from events import TABLE_NAME, TABLE_SCHEMA

# Large enough that per-call overhead vanishes, small enough to stay in cache.
CHUNK_BYTES = 1 << 20


def copy_file(database_url: str, path: Path) -> None:
    """Stream one CSV file's bytes into the table in one transaction."""
    statement = sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER)").format(
        sql.Identifier(TABLE_SCHEMA, TABLE_NAME)
    )
    with (
        psycopg.connect(database_url) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
        path.open("rb") as source,
    ):
        while chunk := source.read(CHUNK_BYTES):
            copy.write(chunk)


def main(argv: list[str] | None = None) -> int:
    """Load every file given, `--workers` at a time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("files", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    with ThreadPoolExecutor(arguments.workers) as pool:
        # list() re-raises the first failure, so a failed COPY fails the run.
        list(pool.map(lambda path: copy_file(arguments.database_url, path), arguments.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
