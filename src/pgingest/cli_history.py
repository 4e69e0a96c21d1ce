"""Commands that read what earlier runs left: ``runs``, ``status``, ``report``, ``rejects``.

cli.py registers them on the app. ``runs``, ``report`` and ``rejects`` need only a
database URL; given a config (or run in its folder) they show that config's runs,
``--all`` every run. ``status`` matches files, so it needs the config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pgingest.cli_shared import (
    DEFAULT_CONFIG,
    EXIT_OK,
    ConfigArgument,
    DatabaseOption,
    LogFormatOption,
    OptionalConfigArgument,
    VerboseOption,
    config_or_url,
    fail_usage,
    guarded,
    load,
    positive,
    stdout,
)

__all__ = ["rejects_command", "report_command", "runs_command", "status_command"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The config file (same as giving it as an argument).",
        show_default=False,
    ),
]
AllOption = Annotated[
    bool, typer.Option("--all", help="Every run in the database, not only the config's.")
]


def runs_command(  # noqa: PLR0917 - typer reads options from parameters
    config: OptionalConfigArgument = None,
    database_url: DatabaseOption = None,
    limit: Annotated[int, typer.Option(help="Show this many of the latest runs.")] = 20,
    as_json: JsonOption = False,
    show_all: AllOption = False,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """List recent runs with their figures, newest first."""

    def action() -> int:
        from pgingest.history import list_runs  # noqa: PLC0415 - imported when run
        from pgingest.report.render_history import render_runs  # noqa: PLC0415

        runs = list_runs(
            config_or_url(config, database_url),
            database_url=database_url,
            limit=positive("--limit", limit) or limit,
            show_all=show_all,
        )
        if as_json:
            print(json.dumps([r.to_dict() for r in runs], indent=2))
        else:
            render_runs(stdout, runs)
        return EXIT_OK

    guarded(action, verbose=verbose, log_format=log_format)


def status_command(  # noqa: PLR0917 - typer reads options from parameters
    config: ConfigArgument = DEFAULT_CONFIG,
    database_url: DatabaseOption = None,
    as_json: JsonOption = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Hash loaded files again; list those whose content changed."),
    ] = False,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """Per source: files loaded, changed, pending, failed; rows and rejected records."""

    def action() -> int:
        from pgingest.history import source_status  # noqa: PLC0415 - imported when run
        from pgingest.report.render_history import render_status  # noqa: PLC0415

        statuses = source_status(load(config), database_url=database_url, verify=verify)
        if as_json:
            print(json.dumps([s.to_dict() for s in statuses], indent=2))
        else:
            render_status(stdout, statuses)
        return EXIT_OK

    guarded(action, verbose=verbose, log_format=log_format)


def _config_and_run(arguments: list[str], config: Path | None) -> tuple[Path | None, str | None]:
    """``report [CONFIG] [RUN_ID]`` in either order: a .json name or a file is the config."""
    run_id: str | None = None
    for argument in arguments:
        if argument.lower().endswith(".json") or Path(argument).is_file():
            if config is not None:
                fail_usage(f"two config files given: {config} and {argument}")
            config = Path(argument)
        elif run_id is None:
            run_id = argument
        else:
            fail_usage(f"two run ids given: {run_id!r} and {argument!r}")
    return config, run_id


def report_command(  # noqa: PLR0917 - typer reads options from parameters
    arguments: Annotated[
        list[str] | None,
        typer.Argument(
            help="[CONFIG] [RUN_ID]: the config file, and the run's id or the start of it "
            "(default: the latest run).",
            metavar="[CONFIG] [RUN_ID]",
            show_default=False,
        ),
    ] = None,
    config_option: ConfigOption = None,
    database_url: DatabaseOption = None,
    show_all: AllOption = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML page of the run to this file."),
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the run's report (JSON) to this file.")
    ] = None,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """Show one run's figures; write them as an HTML page or as the JSON report."""

    def action() -> int:
        from pgingest.history import read_run  # noqa: PLC0415 - imported when run
        from pgingest.report.render import render_summary  # noqa: PLC0415
        from pgingest.report.run_page import render_run_html  # noqa: PLC0415

        config, run_id = _config_and_run(arguments or [], config_option)
        record = read_run(
            config_or_url(config, database_url),
            run_id,
            database_url=database_url,
            show_all=show_all,
        )
        run = record.run
        if html is not None:
            html.write_text(
                render_run_html(run, record.rejects, database=record.database), encoding="utf-8"
            )
            stdout.print(f"wrote {html}", markup=False, highlight=False)
        if json_file is not None:
            run.write(json_file)
            stdout.print(f"wrote {json_file}", markup=False, highlight=False)
        if html is None and json_file is None:
            status = run.status if run.is_finished else "running, or stopped before it finished"
            stdout.print(
                f"run {run.run_id} ({status}), started {run.started_at.astimezone():%c}",
                markup=False,
                highlight=False,
            )
            render_summary(stdout, run)
        return EXIT_OK

    guarded(action, verbose=verbose, log_format=log_format)


def rejects_command(  # noqa: PLR0917 - typer reads options from parameters
    config: OptionalConfigArgument = None,
    database_url: DatabaseOption = None,
    show_all: AllOption = False,
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's rejects.")] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Only the rejects of this source file.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the rejected records of --file to this file, to fix and load."),
    ] = None,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """List rejected records (file:line, column, value, reason), or export them for fixing."""

    def action() -> int:
        from pgingest.history import (  # noqa: PLC0415 - imported when run
            export_rejects,
            header_line,
            list_rejects,
        )
        from pgingest.report.render_history import render_rejects  # noqa: PLC0415

        if export is not None and file is None:
            fail_usage("--export needs --file: the source file whose rejects to export")
        loaded = config_or_url(config, database_url)
        source = str(Path(file).resolve()) if file else None
        found = list_rejects(
            loaded,
            database_url=database_url,
            run_id=run_id,
            source=source,
            limit=None if export else limit,
            show_all=show_all,
        )
        if export is not None:
            assert source is not None
            count = export_rejects(found, header_line(source), str(export))
            stdout.print(f"wrote {count} rejected records to {export}", markup=False)
            return EXIT_OK
        render_rejects(stdout, found)
        return EXIT_OK

    guarded(action, verbose=verbose, log_format=log_format)
