"""What every ``pgingest`` command shares: consoles, common options, logging, errors → exit codes.

Exit status: 0 done, 1 at least one file failed (or the database failed), 2
usage or config error. Errors are one line with a remedy; a traceback appears
only with ``-vv`` or ``PGINGEST_LOG=debug``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, get_type_hints

import typer
from rich.console import Console

from pgingest.errors import ConfigError, PgIngestError
from pgingest.log_setup import (
    LOG_ENV,
    LogFormat,
    configure_logging,
    hidden_in_logs,
    hide_in_logs,
    log_level,
)
from pgingest.redact import redact_text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from pgingest.config import Config

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigArgument",
    "DatabaseOption",
    "LogFormatOption",
    "OptionalConfigArgument",
    "VerboseOption",
    "config_or_url",
    "fail_usage",
    "guarded",
    "invoked_as",
    "load",
    "options_command",
    "positive",
    "stderr",
    "stdout",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Off a terminal (a pipe, a file, CI) lines need not fit a screen: tables keep one line
# per row there instead of folding into rich's default 80 columns.
PIPE_WIDTH = 200
stderr = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else PIPE_WIDTH)
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)

# config.DEFAULT_CONFIG_NAME, spelled here so --help needs no pydantic (a test keeps them equal).
DEFAULT_CONFIG = Path("data_files.json")
ConfigArgument = Annotated[Path, typer.Argument(help="The config file.", show_default=True)]
OptionalConfigArgument = Annotated[
    Path | None,
    typer.Argument(
        help="The config file (default: none with a database URL, else ./data_files.json).",
        show_default=False,
    ),
]
# database.DATABASE_URL_ENV, spelled here so --help needs no pydantic.
DATABASE_URL_ENV = "DATABASE_URL"


def _hidden_url(url: str | None) -> str | None:
    """A --database-url value, whose password no log line or error will show."""
    hide_in_logs(url)
    return url


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL; wins over DATABASE_URL and the config.",
        show_default=False,
        callback=_hidden_url,
    ),
]
VerboseOption = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        help="Log more: -v each stage and file, -vv debug (wins over PGINGEST_LOG).",
    ),
]
LogFormatOption = Annotated[
    str,
    typer.Option(
        "--log-format",
        help="Log lines as text, or as JSON objects for log pipelines.",
        metavar="text|json",
    ),
]


def fail_usage(message: str, hint: str | None = None) -> NoReturn:
    """A usage error: one line on standard error, exit status 2."""
    _print_error(message + (f" ({hint})" if hint else ""))
    raise typer.Exit(EXIT_USAGE)


# The fatal error line's format: text, or one JSON object with --log-format json.
_error_format = {"json": False}


def _print_error(text: str) -> None:
    if _error_format["json"]:
        moment = dt.datetime.now(dt.UTC).isoformat()
        entry = {"time": moment, "level": "error", "logger": "pgingest", "message": text}
        print(json.dumps(entry, ensure_ascii=False), file=sys.stderr)
        return
    stderr.print("[bold red]error:[/] ", markup=True, end="")
    stderr.print(text, markup=False, soft_wrap=True)


def _is_debug() -> bool:
    return logging.getLogger("pgingest").isEnabledFor(logging.DEBUG)


def _report_error(error: BaseException) -> NoReturn:
    if isinstance(error, PgIngestError):
        code = EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED
        text = error.describe()
    else:
        code = EXIT_FAILED
        text = (
            f"internal error: {type(error).__name__}: {error} "
            f"(rerun with -vv or {LOG_ENV}=debug for details, and please report it)"
        )
    if _is_debug():
        logging.getLogger("pgingest").error("failed", exc_info=error)
    _print_error(redact_text(text, secrets=hidden_in_logs()))
    raise typer.Exit(code)


def load(config_path: Path) -> Config:
    """The config, validated (ConfigError, exit 2, when it is not)."""
    from pgingest.config import load_config  # noqa: PLC0415 - only when a command runs

    config = load_config(config_path)
    hide_in_logs(config.database_url)
    return config


def config_or_url(config_path: Path | None, database_url: str | None) -> Config | None:
    """The config a history or query command reads: the one given; none when a URL is given;
    else ./data_files.json when it is here. Neither: a usage error saying what to pass."""
    if config_path is not None:
        return load(config_path)
    if database_url or os.environ.get(DATABASE_URL_ENV):
        return None
    if DEFAULT_CONFIG.is_file():
        return load(DEFAULT_CONFIG)
    fail_usage(
        f"no database to read: no --database-url, no {DATABASE_URL_ENV}, no config file, "
        f"and no ./{DEFAULT_CONFIG} here",
        hint="pass --database-url URL, set DATABASE_URL, or give the config file",
    )


def invoked_as() -> str:
    """How the user started pgingest, to print commands that work as shown."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "pgingest"
    if os.path.basename(program) == "__main__.py":
        on_path = shutil.which("python")
        python = "python" if on_path and os.path.samefile(on_path, sys.executable) else None
        return f"{python or shlex.quote(sys.executable)} -m pgingest"
    found = shutil.which(os.path.basename(program))
    if found and os.path.exists(program) and os.path.samefile(found, program):
        return os.path.basename(program)
    return shlex.quote(program)


def _setup_logging(verbose: int, quiet: bool, log_format: str) -> None:
    _error_format["json"] = log_format == "json"
    if log_format not in ("text", "json"):
        fail_usage(f"--log-format must be text or json, got {log_format!r}")
    fmt: LogFormat = "json" if log_format == "json" else "text"
    try:
        level = log_level(os.environ.get(LOG_ENV), verbose=verbose, quiet=quiet)
    except ConfigError as exc:
        fail_usage(exc.describe())
    configure_logging(level, log_format=fmt)


def guarded(
    action: Callable[[], int], *, verbose: int = 0, quiet: bool = False, log_format: str = "text"
) -> None:
    """Set up logging, run ``action``, and turn every error into one line and an exit status."""
    _setup_logging(verbose, quiet, log_format)
    try:
        code = action()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        stderr.print("interrupted: nothing half-loaded remains; run again to continue")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # every error becomes one line and an exit status
        _report_error(exc)
    raise typer.Exit(code)


def positive(name: str, value: int | None) -> int | None:
    """``value`` if it is at least 1 (or None); a usage error otherwise."""
    if value is not None and value < 1:
        fail_usage(f"{name} must be at least 1, got {value}")
    return value


Options = TypeVar("Options", bound="DataclassInstance")


def options_command(
    options_type: type[Options],
) -> Callable[[Callable[[Options], None]], Callable[..., None]]:
    """Declare a command's options once, as the fields of a frozen dataclass.

    typer reads a command's options from its parameters; the decorated command
    takes one ``options_type`` instead, and the function typer sees has one
    keyword parameter per field (same name, ``Annotated`` type and default, in
    field order, so ``--help`` lists them as declared).
    """
    hints = get_type_hints(options_type, include_extras=True)
    parameters = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty
            if field.default is dataclasses.MISSING
            else field.default,
            annotation=hints[field.name],
        )
        for field in dataclasses.fields(options_type)
    ]

    def decorate(command: Callable[[Options], None]) -> Callable[..., None]:
        def from_parameters(**values: Any) -> None:
            command(options_type(**values))

        from_parameters.__name__ = command.__name__
        from_parameters.__qualname__ = command.__qualname__
        from_parameters.__doc__ = command.__doc__
        from_parameters.__module__ = command.__module__
        from_parameters.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        from_parameters.__annotations__ = {p.name: p.annotation for p in parameters}
        return from_parameters

    return decorate
