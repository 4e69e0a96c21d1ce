"""What every ``pgingest`` command shares: consoles, common options, logging, errors → exit codes.

Exit status: 0 done, 1 at least one file failed (or the database failed), 2
usage or config error. Errors are one line with a remedy; a traceback appears
only with ``-vv`` or ``PGINGEST_LOG=debug``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

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
    from pgingest.config import Config

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigArgument",
    "DatabaseOption",
    "LogFormatOption",
    "VerboseOption",
    "fail_usage",
    "guarded",
    "load",
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
    stderr.print("[bold red]error:[/] ", markup=True, end="")
    stderr.print(message + (f" ({hint})" if hint else ""), markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


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
    stderr.print("[bold red]error:[/] ", markup=True, end="")
    stderr.print(redact_text(text, secrets=hidden_in_logs()), markup=False, soft_wrap=True)
    raise typer.Exit(code)


def load(config_path: Path) -> Config:
    """The config, validated (ConfigError, exit 2, when it is not)."""
    from pgingest.config import load_config  # noqa: PLC0415 - only when a command runs

    config = load_config(config_path)
    hide_in_logs(config.database_url)
    return config


def _setup_logging(verbose: int, quiet: bool, log_format: str) -> None:
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
