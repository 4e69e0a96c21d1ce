"""The ``pgingest`` command: arguments → the library → rendered results and exit codes.

Exit status: 0 every file loaded, 1 at least one file failed (or the database
failed), 2 usage or config error. Errors are one line with a remedy; a
traceback appears only with PGINGEST_LOG=debug.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from pgingest import __version__
from pgingest.config import DEFAULT_CONFIG_NAME, Config, config_json_schema, load_config
from pgingest.database import configured_url
from pgingest.embedded import embedded_data_dir, start_embedded, stop_embedded
from pgingest.errors import ConfigError, PgIngestError
from pgingest.naming import redact_url
from pgingest.pipeline import RunOptions, run
from pgingest.pipeline.dry_run import plan_run
from pgingest.pipeline.history import list_rejects
from pgingest.report.rejects import export_rejects, header_line
from pgingest.report.render import ProgressReporter, render_plan, render_rejects, render_summary

__all__ = ["app", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

LOG_ENV = "PGINGEST_LOG"
_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

app = typer.Typer(
    name="pgingest",
    help="Load CSV, JSON and Parquet files into PostgreSQL with binary COPY, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

ConfigArgument = Annotated[Path, typer.Argument(help="The config file.", show_default=True)]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL; wins over DATABASE_URL and the config.",
        show_default=False,
    ),
]


def _configure_logging() -> None:
    level_name = os.environ.get(LOG_ENV, "warn").strip().lower()
    level = _LOG_LEVELS.get(level_name)
    if level is None:
        _fail_usage(f"{LOG_ENV}={level_name!r} is not a log level; use debug, info, warn or error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("pgingest")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _is_debug() -> bool:
    return logging.getLogger("pgingest").isEnabledFor(logging.DEBUG)


def _fail_usage(message: str) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def _report_error(error: BaseException) -> NoReturn:
    if isinstance(error, PgIngestError):
        code = EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED
        text = error.describe()
    else:
        code = EXIT_FAILED
        text = (
            f"internal error: {type(error).__name__}: {error} "
            f"(rerun with {LOG_ENV}=debug for details, and please report it)"
        )
    if _is_debug():
        logging.getLogger("pgingest").exception("failed")
    stderr.print("[bold red]error:[/] ", markup=True, end="")
    stderr.print(text, markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _load(config_path: Path) -> Config:
    return load_config(config_path)


def _guarded(action: Callable[[], int]) -> None:
    _configure_logging()
    try:
        code = action()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        stderr.print("interrupted: nothing half-loaded remains; run again to continue")
        raise typer.Exit(130) from None
    except Exception as exc:  # every error becomes one line and an exit status
        _report_error(exc)
    raise typer.Exit(code)


def _positive(name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        _fail_usage(f"{name} must be at least 1, got {value}")
    return value


@app.command("run")
def run_command(
    config: ConfigArgument = Path(DEFAULT_CONFIG_NAME),
    database_url: DatabaseOption = None,
    workers: Annotated[int | None, typer.Option(help="Parse workers (default: CPU count).")] = None,
    connections: Annotated[
        int | None, typer.Option(help="Database connections (default: CPU count).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per COPY batch.")] = None,
    max_rejects: Annotated[
        int | None,
        typer.Option(help="Rejected records a file may have before it fails (0: none)."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Load only the files whose last attempt failed.")
    ] = False,
    file_attempts: Annotated[
        int | None, typer.Option(help="Tries for file work (open, read), first included.")
    ] = None,
    db_attempts: Annotated[
        int | None, typer.Option(help="Tries for database work (connect, COPY), first included.")
    ] = None,
    retry_deadline: Annotated[
        float | None, typer.Option(help="Give up retrying after this many seconds.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the run report (JSON) to this file.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bars on a terminal.")
    ] = None,
) -> None:
    """Load every file the config matches into PostgreSQL."""

    def action() -> int:
        if max_rejects is not None and max_rejects < 0:
            _fail_usage(f"--max-rejects must be 0 or more, got {max_rejects}")
        loaded = (
            _load(config)
            .with_settings(
                workers=_positive("--workers", workers),
                connections=_positive("--connections", connections),
                batch_size=_positive("--batch-size", batch_size),
                max_rejects=max_rejects,
            )
            .with_retry(
                file_attempts=_positive("--file-attempts", file_attempts),
                db_attempts=_positive("--db-attempts", db_attempts),
                deadline=retry_deadline,
            )
        )
        show_progress = (progress if progress is not None else stderr.is_terminal) and not quiet
        with ProgressReporter(stderr, enabled=show_progress) as reporter:
            options = RunOptions(
                database_url=database_url, reporter=reporter, retry_failed=retry_failed
            )
            result = run(loaded, options)
        if report is not None:
            result.write(report)
        if not quiet:
            render_summary(stdout, result)
        elif result.failed_files:
            for failed in result.failed_files:
                stderr.print(f"failed: {failed.error}", markup=False, soft_wrap=True)
        if result.database and configured_url(loaded, database_url) is None and not quiet:
            stdout.print(
                "Loaded into the embedded PostgreSQL; connect with: "
                f'psql "$(pgingest db-url {config})"',
                markup=False,
                soft_wrap=True,
            )
        return EXIT_OK if result.is_success else EXIT_FAILED

    _guarded(action)


@app.command("plan")
def plan_command(
    config: ConfigArgument = Path(DEFAULT_CONFIG_NAME),
    database_url: DatabaseOption = None,
) -> None:
    """Show what a run would do: files, formats, tables, columns, files already loaded."""

    def action() -> int:
        render_plan(stdout, plan_run(_load(config), database_url=database_url))
        return EXIT_OK

    _guarded(action)


@app.command("rejects")
def rejects_command(
    config: ConfigArgument = Path(DEFAULT_CONFIG_NAME),
    database_url: DatabaseOption = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's rejects.")] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Only the rejects of this source file.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the rejected records of --file to this file, to fix and load."),
    ] = None,
) -> None:
    """List rejected records (file:line, column, value, reason), or export them for fixing."""

    def action() -> int:
        if export is not None and file is None:
            _fail_usage("--export needs --file: the source file whose rejects to export")
        loaded = _load(config)
        source = str(Path(file).resolve()) if file else None
        found = list_rejects(
            loaded,
            database_url=database_url,
            run_id=run_id,
            source=source,
            limit=None if export else limit,
        )
        if export is not None:
            assert source is not None
            count = export_rejects(found, header_line(source), str(export))
            stdout.print(f"wrote {count} rejected records to {export}", markup=False)
            return EXIT_OK
        render_rejects(stdout, found)
        return EXIT_OK

    _guarded(action)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of data_files.json."""
    stdout.print_json(json.dumps(config_json_schema()))


@app.command("db-url")
def db_url_command(
    config: ConfigArgument = Path(DEFAULT_CONFIG_NAME),
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the password too.")
    ] = False,
) -> None:
    """Print the URL of the database runs use (starting the embedded one if it is the one)."""

    def action() -> int:
        loaded = _load(config)
        given = configured_url(loaded)
        url = given[0] if given else start_embedded(loaded.base_dir)
        print(url if show_password else redact_url(url))
        return EXIT_OK

    _guarded(action)


@app.command("db-stop")
def db_stop_command(config: ConfigArgument = Path(DEFAULT_CONFIG_NAME)) -> None:
    """Stop the embedded PostgreSQL of this config's folder (its data stays)."""

    def action() -> int:
        loaded = _load(config)
        folder = embedded_data_dir(loaded.base_dir)
        if stop_embedded(loaded.base_dir):
            stdout.print(f"stopped the embedded PostgreSQL in {folder}", markup=False)
        else:
            stdout.print(f"no embedded PostgreSQL is running in {folder}", markup=False)
        return EXIT_OK

    _guarded(action)


def _version_callback(value: bool) -> None:
    if value:
        print(f"pgingest {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """pgingest: fast, exactly-once loading of files into PostgreSQL."""


def main() -> None:
    """Console-script entry point."""
    app()
