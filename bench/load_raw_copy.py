"""Peer: raw CSV bytes through `COPY ... FROM STDIN (FORMAT csv, HEADER)`, N connections.

The fastest thing a careful user can script: no parsing on the client at all,
each file streamed in 1 MiB chunks, N files at a time over N persistent
connections (one per worker thread, so thousands of small files do not pay a
connection each), each file in its own transaction and its own COPY.

    python bench/load_raw_copy.py --database-url URL --workers 2 FILE_OR_GLOB...
"""

from __future__ import annotations

import argparse
import glob
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from events import TABLE_NAME, TABLE_SCHEMA

# Large enough that per-call overhead vanishes, small enough to stay in cache.
CHUNK_BYTES = 1 << 20


STATEMENT = sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER)").format(
    sql.Identifier(TABLE_SCHEMA, TABLE_NAME)
)


class Connections:
    """One connection per worker thread, opened on first use, all closed at the end."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[psycopg.Connection[Any]] = []

    def get(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = psycopg.connect(self._database_url)
            self._local.connection = connection
            with self._lock:
                self._opened.append(connection)
        return connection

    def close(self) -> None:
        for connection in self._opened:
            connection.close()


def copy_file(connections: Connections, path: Path) -> None:
    """Stream one CSV file's bytes into the table in one transaction."""
    connection = connections.get()
    with (
        connection.transaction(),
        connection.cursor() as cursor,
        cursor.copy(STATEMENT) as copy,
        path.open("rb") as source,
    ):
        while chunk := source.read(CHUNK_BYTES):
            copy.write(chunk)


def expand(arguments: list[str]) -> list[Path]:
    """Files named, globs expanded (sorted); a glob that matches nothing is an error."""
    paths: list[Path] = []
    for argument in arguments:
        if glob.has_magic(argument):
            matched = sorted(glob.glob(argument))
            if not matched:
                raise SystemExit(f"{argument} matches no file")
            paths += [Path(name) for name in matched]
        else:
            paths.append(Path(argument))
    return paths


def main(argv: list[str] | None = None) -> int:
    """Load every file given, `--workers` at a time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("files", nargs="+", help="files or globs")
    arguments = parser.parse_args(argv)
    connections = Connections(arguments.database_url)
    try:
        with ThreadPoolExecutor(arguments.workers) as pool:
            # list() re-raises the first failure, so a failed COPY fails the run.
            list(pool.map(lambda path: copy_file(connections, path), expand(arguments.files)))
    finally:
        connections.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
