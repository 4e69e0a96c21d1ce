"""``pgingest sql`` and ``pgingest psql``: query the database pgingest loads into.

The database is the URL given (--database-url, then DATABASE_URL), else the
config's (its ``database_url``, or its folder's embedded PostgreSQL). The work
is in query.py; this module only reads arguments and prints.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from pgingest.cli_shared import (
    EXIT_OK,
    DatabaseOption,
    LogFormatOption,
    OptionalConfigArgument,
    VerboseOption,
    config_or_url,
    fail_usage,
    guarded,
    stdout,
)

__all__ = ["psql_command", "sql_command"]


def sql_command(  # noqa: PLR0917 - typer reads options from parameters
    query: Annotated[str, typer.Argument(help='One SQL statement, e.g. "SELECT * FROM t".')],
    config: OptionalConfigArgument = None,
    database_url: DatabaseOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the rows as a JSON list of objects.")
    ] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV.")] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Allow a statement that changes data (default: read-only)."),
    ] = False,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """Run one SQL statement on the config's (or URL's) database and print its rows."""

    def action() -> int:
        from pgingest.query import (  # noqa: PLC0415 - imported when run
            database_for,
            display_value,
            run_query,
            to_json_rows,
            write_csv,
        )
        from pgingest.report.render_history import render_query  # noqa: PLC0415

        if as_json and as_csv:
            fail_usage("give --json or --csv, not both")
        target = database_for(config_or_url(config, database_url), database_url)
        result = run_query(target, query, write=write)
        if as_json:
            print(json.dumps(to_json_rows(result), indent=2, ensure_ascii=False))
        elif as_csv:
            write_csv(result, sys.stdout)
        elif result.columns:
            shown = [[display_value(value) for value in row] for row in result.rows]
            render_query(stdout, result.columns, shown)
        else:
            stdout.print(result.status or "done", markup=False)
        return EXIT_OK

    guarded(action, verbose=verbose, log_format=log_format)


def psql_command(
    config: OptionalConfigArgument = None,
    database_url: DatabaseOption = None,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """Open psql on the config's (or URL's) database; the password goes in PGPASSWORD."""

    def action() -> int:
        from pgingest.query import database_for, psql_invocation  # noqa: PLC0415

        target = database_for(config_or_url(config, database_url), database_url)
        argv, env = psql_invocation(target)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, env)
        return EXIT_OK  # not reached: psql replaced this process

    guarded(action, verbose=verbose, log_format=log_format)
