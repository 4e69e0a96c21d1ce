"""How the command sets up logging: level, text or JSON lines, on standard error.

Only the CLI calls this; the library logs through ``logging.getLogger(__name__)``
and leaves handlers to whoever embeds it.

The level comes from ``-v``/``-q`` when given, else ``PGINGEST_LOG``, else warn.
Progress lines (logger ``pgingest.progress``) show at any level but error, so a
CI log shows a long load moving without the chatter of ``-v``.

Every record is redacted before it is written, text or JSON, traceback
included: the passwords of the URLs the command was given (``hide_in_logs``),
of ``DATABASE_URL`` and ``PGPASSWORD``, and any connection string in the text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any, Literal, TextIO

from pgingest.errors import ConfigError
from pgingest.redact import hidden_values, redact_text

__all__ = [
    "LOG_ENV",
    "JsonFormatter",
    "LogFormat",
    "RedactingFilter",
    "configure_logging",
    "hidden_in_logs",
    "hide_in_logs",
    "log_level",
]

LOG_ENV = "PGINGEST_LOG"
# report/logs.py's progress logger, spelled here so the CLI starts without the
# pipeline's imports (a test keeps them equal).
PROGRESS_LOGGER = "pgingest.progress"
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
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler writes: message, figures and traceback."""

    def __init__(self, secrets: set[str]) -> None:
        super().__init__()
        self.secrets = secrets  # shared: URLs met later add to it

    def _clean(self, text: str) -> str:
        return redact_text(text, secrets=self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; every record is kept."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: logging reports it
            return True
        record.msg, record.args = self._clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, self._clean(value))
        return True


# The secrets the command's log lines must never show (see hide_in_logs).
_HIDDEN: set[str] = set()


def hide_in_logs(url: str | None) -> None:
    """Keep the secrets of ``url`` out of every log line from now on."""
    _HIDDEN.update(hidden_values(url))


def hidden_in_logs() -> frozenset[str]:
    """The secrets hidden so far (the command's error line hides them too)."""
    return frozenset(_HIDDEN | hidden_values(os.environ.get("DATABASE_URL")))


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
    hide_in_logs(os.environ.get("DATABASE_URL"))
    handler.addFilter(RedactingFilter(_HIDDEN))
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
