"""Peer: DuckDB's postgres extension, `INSERT INTO pg.events SELECT * FROM read_...(files)`.

The extension comes from PyPI (package duckdb-ext-postgres, which pins the
matching duckdb), because this machine cannot reach DuckDB's extension
repository: the wheel drops `postgres_scanner.duckdb_extension` under
`duckdb_ext/extensions/v<duckdb version>/<platform>/`, and pointing
`extension_directory` there lets a plain `LOAD postgres` find it.

    python bench/load_duckdb.py --database-url URL --format parquet FILE...
    python bench/load_duckdb.py --database-url URL --format csv 'folder/*.csv'

A glob is handed to DuckDB as it is: its reader expands it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import duckdb

from events import DUCKDB_COLUMN_TYPES, TABLE_NAME, TABLE_SCHEMA

EXTENSION_PACKAGE = "duckdb_ext"  # namespace package of the duckdb-ext-* wheels
ATTACHED_NAME = "pg"


def extension_directory() -> str:
    """The folder the duckdb-ext-* wheels install extensions into."""
    spec = importlib.util.find_spec(EXTENSION_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("duckdb-ext-postgres is not installed: pip install -e '.[bench]'")
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def sql_string(value: str) -> str:
    """A DuckDB SQL string literal holding value."""
    return "'" + value.replace("'", "''") + "'"


def connect_with_postgres(database_url: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the target database attached as `pg`."""
    connection = duckdb.connect()
    # Never try the network: the extension must come from the wheel.
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute("SET autoload_known_extensions = false")
    connection.execute("SET extension_directory = ?", [extension_directory()])
    connection.execute("LOAD postgres")
    # ATTACH takes no parameters, so the URL goes in as a quoted SQL literal.
    connection.execute(f"ATTACH {sql_string(database_url)} AS {ATTACHED_NAME} (TYPE postgres)")
    return connection


def source_query(file_format: str) -> str:
    """The SELECT that reads the files (passed as parameter $1) with the table's types."""
    if file_format == "parquet":
        return "SELECT * FROM read_parquet($1)"
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in DUCKDB_COLUMN_TYPES.items())
    # allow_quoted_nulls = false: a quoted empty field is '' as in COPY, not NULL.
    return (
        "SELECT * FROM read_csv($1, header = true, delim = ',', quote = '\"', escape = '\"',"
        f" allow_quoted_nulls = false, columns = {{{columns}}})"
    )


def main(argv: list[str] | None = None) -> int:
    """Insert every file given into the attached table, in one statement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--format", choices=("csv", "parquet"), required=True)
    parser.add_argument("files", nargs="+", type=Path, help="files or globs")
    arguments = parser.parse_args(argv)
    connection = connect_with_postgres(arguments.database_url)
    target = f"{ATTACHED_NAME}.{TABLE_SCHEMA}.{TABLE_NAME}"
    connection.execute(
        f"INSERT INTO {target} {source_query(arguments.format)}",
        [[str(path) for path in arguments.files]],
    )
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
