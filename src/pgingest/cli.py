"""The ``pgingest`` command: arguments → the library → rendered results and exit codes.

``run`` and ``plan`` live here with the small commands; the commands that read
what earlier runs left (``runs``, ``status``, ``report``, ``rejects``) are in
cli_history.py. Shared options, logging and error handling: cli_shared.py.

Each command imports what it uses when it runs, so ``--version`` and
``--help`` start without pyarrow, numpy, dask or prometheus_client (a test
keeps it so).
"""

from __future__ import annotations

import json
import shlex
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pgingest import __version__
from pgingest.cli_history import rejects_command, report_command, runs_command, status_command
from pgingest.cli_query import psql_command, sql_command
from pgingest.cli_shared import (
    DEFAULT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ConfigArgument,
    DatabaseOption,
    LogFormatOption,
    VerboseOption,
    fail_usage,
    guarded,
    invoked_as,
    load,
    options_command,
    positive,
    stderr,
    stdout,
)
from pgingest.cli_watch import watch_command

if TYPE_CHECKING:
    from pgingest.config import Config
    from pgingest.report.metrics import Metrics
    from pgingest.report.progress import ProgressState
    from pgingest.report.reporter import Reporter
    from pgingest.summary import RunReport

__all__ = ["RunCommandOptions", "app", "main"]

# report/prometheus.py's default, kept here so --help needs no prometheus_client.
DEFAULT_METRICS_ADDRESS = "127.0.0.1"

app = typer.Typer(
    name="pgingest",
    help="Load CSV, JSON and Parquet files into PostgreSQL with binary COPY, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: rich's help renderer costs about 0.25 s of imports (markdown,
    # syntax highlighting) on every --help, past the 0.3 s start-up budget.
    rich_markup_mode=None,
)

app.command("runs")(runs_command)
app.command("status")(status_command)
app.command("report")(report_command)
app.command("rejects")(rejects_command)
app.command("sql")(sql_command)
app.command("psql")(psql_command)
app.command("watch")(watch_command)


@dataclass(frozen=True)
class RunCommandOptions:
    """What ``pgingest run`` was asked, one field per argument and option, in --help order."""

    config: ConfigArgument = DEFAULT_CONFIG
    database_url: DatabaseOption = None
    workers: Annotated[int | None, typer.Option(help="Parse workers (default: CPU count).")] = None
    connections: Annotated[
        int | None, typer.Option(help="Database connections (default: CPU count).")
    ] = None
    batch_size: Annotated[int | None, typer.Option(help="Rows per COPY batch.")] = None
    max_rejects: Annotated[
        int | None,
        typer.Option(help="Rejected records a file may have before it fails (0: none)."),
    ] = None
    max_reject_ratio: Annotated[
        float | None,
        typer.Option(
            help="Share of a file's records that may be rejected before it fails (default 0.05).",
            show_default=False,
        ),
    ] = None
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Load only the files whose last attempt failed.")
    ] = False
    file_attempts: Annotated[
        int | None, typer.Option(help="Tries for file work (open, read), first included.")
    ] = None
    db_attempts: Annotated[
        int | None, typer.Option(help="Tries for database work (connect, COPY), first included.")
    ] = None
    retry_deadline: Annotated[
        float | None, typer.Option(help="Give up retrying after this many seconds.")
    ] = None
    executor: Annotated[
        str | None,
        typer.Option(
            help="Where units run: local (threads) or dask (a cluster).", show_default=False
        ),
    ] = None
    scheduler: Annotated[
        str | None, typer.Option(help="The Dask scheduler, tcp://HOST:PORT (with --executor dask).")
    ] = None
    report: Annotated[
        Path | None, typer.Option(help="Write the run report (JSON) to this file.")
    ] = None
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors; no progress, no summary.")
    ] = False
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress: bars on a terminal, a log line every 10 s elsewhere (default: on).",
            show_default=False,
        ),
    ] = None
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve live metrics for Prometheus on this port (0: any free port).",
            show_default=False,
        ),
    ] = None
    metrics_address: Annotated[
        str, typer.Option(help="Address the metrics server listens on (0.0.0.0: every one).")
    ] = DEFAULT_METRICS_ADDRESS
    verbose: VerboseOption = 0
    log_format: LogFormatOption = "text"

    @property
    def shows_progress(self) -> bool:
        """Progress is on unless turned off, or --quiet."""
        return self.progress is not False and not self.quiet

    @property
    def metrics_at(self) -> tuple[str, int] | None:
        """Where to serve Prometheus metrics, if asked."""
        return None if self.metrics_port is None else (self.metrics_address, self.metrics_port)


@app.command("run")
@options_command(RunCommandOptions)
def run_command(options: RunCommandOptions) -> None:
    """Load every file the config matches into PostgreSQL."""

    def action() -> int:
        _check_metrics_port(options.metrics_port)
        loaded = _configure(options)
        result = _observe_and_run(loaded, options)
        _show_result(result, loaded, options)
        return EXIT_OK if result.is_success else EXIT_FAILED

    guarded(action, verbose=options.verbose, quiet=options.quiet, log_format=options.log_format)


def _check_metrics_port(port: int | None) -> None:
    if port is not None and not 0 <= port <= 65535:
        fail_usage(f"--metrics-port must be a port number (0 to 65535), got {port}")


def _configure(options: RunCommandOptions) -> Config:
    """The config with the command line's settings over its own (usage errors: exit 2)."""
    if options.max_rejects is not None and options.max_rejects < 0:
        fail_usage(f"--max-rejects must be 0 or more, got {options.max_rejects}")
    if options.executor not in (None, "local", "dask"):
        fail_usage(f"--executor must be local or dask, got {options.executor!r}")
    configured = load(options.config)
    if (options.executor or configured.settings.executor) == "dask" and not (
        options.scheduler or configured.settings.scheduler
    ):
        fail_usage("--executor dask needs --scheduler tcp://HOST:PORT (the Dask scheduler)")
    configured = configured.with_settings(
        workers=positive("--workers", options.workers),
        connections=positive("--connections", options.connections),
        batch_size=positive("--batch-size", options.batch_size),
        max_rejects=options.max_rejects,
        executor=options.executor,
        scheduler=options.scheduler,
    ).with_retry(
        file_attempts=positive("--file-attempts", options.file_attempts),
        db_attempts=positive("--db-attempts", options.db_attempts),
        deadline=options.retry_deadline,
    )
    ratio = options.max_reject_ratio
    if ratio is None:
        return configured
    if not 0 <= ratio <= 1:
        fail_usage(f"--max-reject-ratio must be between 0 and 1, got {ratio}")
    return configured.with_settings(max_reject_ratio=ratio)


def _observe_and_run(loaded: Config, options: RunCommandOptions) -> RunReport:
    """The run, watched: bars on a terminal, log lines elsewhere, Prometheus if asked."""
    from pgingest.pipeline import RunOptions, run  # noqa: PLC0415 - imported when a command runs
    from pgingest.report.metrics import Metrics  # noqa: PLC0415
    from pgingest.report.progress import ProgressState  # noqa: PLC0415
    from pgingest.report.reporter import CompositeReporter  # noqa: PLC0415

    state = ProgressState()
    metrics = Metrics()
    with ExitStack() as stack:
        reporters = _watchers(stack, state, metrics, options)
        run_options = RunOptions(
            database_url=options.database_url,
            retry_failed=options.retry_failed,
            reporter=CompositeReporter(state, *reporters),
            metrics=metrics,
        )
        return run(loaded, run_options)


def _watchers(
    stack: ExitStack, state: ProgressState, metrics: Metrics, options: RunCommandOptions
) -> list[Reporter]:
    """Who watches the run besides ``state``: Prometheus, bars or log lines, as asked."""
    reporters: list[Reporter] = []
    # Each view is imported only when asked for: a run's first COPY waits on its imports.
    if options.metrics_at is not None:
        from pgingest.report.prometheus import MetricsServer, RunCollector  # noqa: PLC0415

        address, port = options.metrics_at
        collector = RunCollector(state, metrics)
        server = stack.enter_context(MetricsServer(collector, address=address, port=port))
        if not options.quiet:
            stderr.print(f"serving metrics at {server.url}", markup=False)
    if options.shows_progress and stderr.is_terminal:
        from pgingest.report.terminal import TerminalProgress  # noqa: PLC0415

        reporters.append(stack.enter_context(TerminalProgress(state, stderr)))
    elif options.shows_progress:
        from pgingest.report.logs import LogProgress  # noqa: PLC0415

        reporters.append(LogProgress(state))
    return reporters


def _show_result(result: RunReport, loaded: Config, options: RunCommandOptions) -> None:
    """The report file, then the summary (or, with --quiet, only the failures)."""
    from pgingest.report.render import render_summary  # noqa: PLC0415 - see the docstring

    if options.report is not None:
        result.write(options.report)
    if options.quiet:
        for failed in result.failed_files:
            stderr.print(f"failed: {failed.error}", markup=False, soft_wrap=True)
        return
    render_summary(stdout, result)
    if result.database and result.records_loaded and not _has_database_url(loaded, options):
        stdout.print(
            "Loaded into the embedded PostgreSQL; connect with: "
            f"{invoked_as()} psql {shlex.quote(str(options.config))}",
            markup=False,
            soft_wrap=True,
        )


def _has_database_url(loaded: Config, options: RunCommandOptions) -> bool:
    """Whether the run used a database the user named (else the embedded one)."""
    from pgingest.database import configured_url  # noqa: PLC0415 - see the docstring

    return configured_url(loaded, options.database_url) is not None


@app.command("plan")
def plan_command(
    config: ConfigArgument = DEFAULT_CONFIG,
    database_url: DatabaseOption = None,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """Show what a run would do: files, formats, tables, columns, files already loaded."""

    def action() -> int:
        from pgingest.dry_run import plan_run  # noqa: PLC0415 - see the docstring
        from pgingest.report.render import render_plan  # noqa: PLC0415

        render_plan(stdout, plan_run(load(config), database_url=database_url))
        return EXIT_OK

    guarded(action, verbose=verbose, log_format=log_format)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of data_files.json."""
    from pgingest.config import config_json_schema  # noqa: PLC0415 - see the docstring

    stdout.print_json(json.dumps(config_json_schema()))


@app.command("db-url")
def db_url_command(
    config: ConfigArgument = DEFAULT_CONFIG,
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Print the password too.")
    ] = False,
) -> None:
    """Print the URL of the database runs use (starting the embedded one if it is the one)."""

    def action() -> int:
        from pgingest.database import configured_url  # noqa: PLC0415 - see the docstring
        from pgingest.embedded import start_embedded  # noqa: PLC0415
        from pgingest.redact import redact_url  # noqa: PLC0415

        loaded = load(config)
        given = configured_url(loaded)
        url = given[0] if given else start_embedded(loaded.base_dir)
        print(url if show_password else redact_url(url))
        return EXIT_OK

    guarded(action)


@app.command("db-stop")
def db_stop_command(config: ConfigArgument = DEFAULT_CONFIG) -> None:
    """Stop the embedded PostgreSQL of this config's folder (its data stays)."""

    def action() -> int:
        from pgingest.embedded import embedded_data_dir, stop_embedded  # noqa: PLC0415

        loaded = load(config)
        folder = embedded_data_dir(loaded.base_dir)
        if stop_embedded(loaded.base_dir):
            stdout.print(f"stopped the embedded PostgreSQL in {folder}", markup=False)
        else:
            stdout.print(f"no embedded PostgreSQL is running in {folder}", markup=False)
        return EXIT_OK

    guarded(action)


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
