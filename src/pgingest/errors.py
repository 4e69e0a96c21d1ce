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

from typing import Any, Self

__all__ = [
    "ConfigError",
    "ConnectError",
    "LoadError",
    "ParseError",
    "PgIngestError",
    "SourceError",
]


class PgIngestError(Exception):
    """Root of every error pgingest raises on purpose."""

    is_transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        is_transient: bool | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}
        if is_transient is not None:
            self.is_transient = is_transient

    def __getattr__(self, name: str) -> Any:
        # Context fields (path, line, table, sqlstate, ...) read as attributes;
        # a field that was not given reads as None.
        if name.startswith("__"):
            raise AttributeError(name)
        return self.__dict__.get("context", {}).get(name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.hint, self.is_transient, self.context))

    def where(self) -> str:
        """Where the error happened, as a user would look for it (file:line, table.column)."""
        path = self.context.get("path")
        line = self.context.get("line")
        column = self.context.get("column")
        table = self.context.get("table")
        parts: list[str] = []
        if path is not None:
            parts.append(f"{path}:{line}" if line is not None else str(path))
        if column is not None:
            parts.append(f"column {column!r}")
        if table is not None and path is None:
            parts.append(f"table {table}")
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

    def with_context(self, **context: Any) -> Self:
        """Add context that the raiser did not know (a file path, a table); returns self."""
        for key, value in context.items():
            if value is not None and key not in self.context:
                self.context[key] = value
        return self


def _rebuild(
    cls: type[PgIngestError],
    message: str,
    hint: str | None,
    is_transient: bool,
    context: dict[str, Any],
) -> PgIngestError:
    return cls(message, hint=hint, is_transient=is_transient, **context)


class ConfigError(PgIngestError):
    """The config file or a command-line option is wrong; nothing was loaded."""

    def where(self) -> str:
        file = self.context.get("file")
        location = self.context.get("location")
        if file and location:
            return f"{file}: {location}"
        return str(file or location or "")


class SourceError(PgIngestError):
    """A source file cannot be found, opened, read or decompressed."""


class ParseError(PgIngestError):
    """A record cannot be parsed or converted to its column's type."""


class LoadError(PgIngestError):
    """PostgreSQL refused the data or the operation."""


class ConnectError(LoadError):
    """The database cannot be reached, or refuses the login."""
