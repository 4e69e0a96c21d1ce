"""How the command sets up logging: level, text or JSON lines, on standard error.

Only the CLI calls this; the library logs through ``logging.getLogger(__name__)``
and leaves handlers to whoever embeds it.

The level comes from ``-v``/``-q`` when given, else ``PGINGEST_LOG``, else warn.
Progress lines (logger ``pgingest.progress``) show at any level but error, so a
CI log shows a long load moving without the chatter of ``-v``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Literal, TextIO

from pgingest.errors import ConfigError
from pgingest.report.logs import PROGRESS_LOGGER

__all__ = ["LOG_ENV", "JsonFormatter", "LogFormat", "configure_logging", "log_level"]

LOG_ENV = "PGINGEST_LOG"
LogFormat = Literal["text", "json"]

LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# Attributes a record carries that are not extras passed by pgingest's loggers.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def log_level(env_value: str | None, *, verbose: int = 0, quiet: bool = False) -> int:
    """The level asked for: ``-q`` error, ``-v`` info, ``-vv`` debug, else the environment's."""
    if quiet:
        return logging.ERROR
    if verbose:
        return logging.DEBUG if verbose > 1 else logging.INFO
    name = (env_value or "warn").strip().lower()
    level = LOG_LEVELS.get(name)
    if level is None:
        raise ConfigError(
            f"{LOG_ENV}={name!r} is not a log level",
            hint="use debug, info, warn or error",
        )
    return level


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's figures."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StandardError(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is now, so rich can lift log lines above its bars."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """sys.stderr is always the stream."""


def configure_logging(level: int, *, log_format: LogFormat = "text") -> None:
    """Send pgingest's log records at ``level`` and above to standard error."""
    handler = _StandardError()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("pgingest")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    progress = logging.getLogger(PROGRESS_LOGGER)
    progress.setLevel(logging.INFO if level < logging.ERROR else logging.ERROR)
