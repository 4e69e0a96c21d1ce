"""Errors pgingest raises, each carrying where it happened and what to do.

    PgIngestError                 root; ``is_transient`` says whether a retry may help
    ├── ConfigError               data_files.json or an option is wrong (exit status 2)
    ├── SourceError               a source file is missing, unreadable or undecodable
    ├── ParseError                a record cannot be read or converted (path, line, column)
    └── LoadError                 PostgreSQL refused or failed (table, sqlstate)
        └── ConnectError          the database cannot be reached or refuses the login

Every error pickles with its context, so it crosses process and Dask boundaries.
Foreign errors are translated once, at the boundary that meets them, with
``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any, Self, TypedDict, Unpack

__all__ = [
    "ConfigError",
    "ConnectError",
    "ErrorContext",
    "LoadError",
    "ParseError",
    "PgIngestError",
    "SourceError",
]


class ErrorContext(TypedDict, total=False):
    """Where an error happened; every error carries these as attributes (None: not known)."""

    path: str | None  # the source file
    line: int | None  # 1-based line in a text file, record number otherwise
    column: str | None
    table: str | None


_CONTEXT_NAMES = ErrorContext.__optional_keys__


def _checked(context: ErrorContext) -> ErrorContext:
    """The context, or a TypeError naming a field no error has (mypy catches it first)."""
    unknown = set(context) - _CONTEXT_NAMES
    if unknown:
        raise TypeError(
            f"unknown error context {', '.join(sorted(unknown))} "
            f"(errors carry {', '.join(sorted(_CONTEXT_NAMES))})"
        )
    return context


class PgIngestError(Exception):
    """Root of every error pgingest raises on purpose.

    The context is typed attributes that default to None: ``path``, ``line``,
    ``column`` and ``table`` on every error, and what only a subclass knows on
    it (``LoadError.sqlstate``, ``ConfigError.file``). A misspelt name is a mypy
    error, and an AttributeError or TypeError at run time, never a silent None.
    """

    is_transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        is_transient: bool | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message)
        context = _checked(context)
        self.message = message
        self.hint = hint
        self.path: str | None = context.get("path")
        self.line: int | None = context.get("line")
        self.column: str | None = context.get("column")
        self.table: str | None = context.get("table")
        if is_transient is not None:
            self.is_transient = is_transient

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its attributes, whatever the subclass's __init__ takes:
        # errors cross process and Dask boundaries.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def where(self) -> str:
        """Where the error happened, as a user would look for it (file:line, table.column)."""
        parts: list[str] = []
        if self.path is not None:
            parts.append(f"{self.path}:{self.line}" if self.line is not None else str(self.path))
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.table is not None and self.path is None:
            parts.append(f"table {self.table}")
        return ", ".join(parts)

    def describe(self) -> str:
        """One line: what went wrong, where, and what to do about it."""
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        # A NUL byte quoted from a file would be refused by PostgreSQL's text and
        # jsonb where the error is recorded; keep it visible, escaped.
        return text.replace("\x00", "\\x00")

    def __str__(self) -> str:
        return self.describe()

    def with_context(self, **context: Unpack[ErrorContext]) -> Self:
        """Add context that the raiser did not know (a file path, a table); returns self.

        What the raiser gave wins: only the fields still None are filled.
        """
        context = _checked(context)
        self.path = self.path if self.path is not None else context.get("path")
        self.line = self.line if self.line is not None else context.get("line")
        self.column = self.column if self.column is not None else context.get("column")
        self.table = self.table if self.table is not None else context.get("table")
        return self


def _rebuild(cls: type[PgIngestError], message: str, state: dict[str, Any]) -> PgIngestError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigError(PgIngestError):
    """The config file or a command-line option is wrong; nothing was loaded.

    ``file`` is the config file; ``location`` the JSON path in it (``sources[1].paths``).
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.location = location

    def where(self) -> str:
        if self.file and self.location:
            return f"{self.file}: {self.location}"
        return str(self.file or self.location or "")


class SourceError(PgIngestError):
    """A source file cannot be found, opened, read or decompressed."""


class ParseError(PgIngestError):
    """A record cannot be parsed or converted to its column's type."""


class LoadError(PgIngestError):
    """PostgreSQL refused the data or the operation; ``sqlstate`` says why when it said."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        hint: str | None = None,
        is_transient: bool | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, hint=hint, is_transient=is_transient, **context)
        self.sqlstate = sqlstate


class ConnectError(LoadError):
    """The database cannot be reached, or refuses the login."""
