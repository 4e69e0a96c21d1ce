"""Which database a run talks to: flag, then DATABASE_URL, then the config, then embedded."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from pgingest.config import Config
from pgingest.embedded import start_embedded
from pgingest.redact import redact_url

__all__ = ["DATABASE_URL_ENV", "DatabaseTarget", "resolve_database"]

DATABASE_URL_ENV = "DATABASE_URL"

Origin = Literal["flag", "environment", "config", "embedded"]


@dataclass(frozen=True)
class DatabaseTarget:
    """A database URL and where it came from; printed and repr()'d without its password."""

    url: str = field(repr=False)
    origin: Origin

    @property
    def is_embedded(self) -> bool:
        """Whether this is pgingest's own embedded server."""
        return self.origin == "embedded"

    def __str__(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"DatabaseTarget(url={redact_url(self.url)!r}, origin={self.origin!r})"


def configured_url(config: Config, explicit: str | None = None) -> tuple[str, Origin] | None:
    """The URL the user gave (flag, environment, config), without starting anything."""
    if explicit:
        return explicit, "flag"
    from_env = os.environ.get(DATABASE_URL_ENV)
    if from_env:
        return from_env, "environment"
    if config.database_url:
        return config.database_url, "config"
    return None


def resolve_database(config: Config, explicit: str | None = None) -> DatabaseTarget:
    """The database for a run; starts the embedded server when no URL is given anywhere."""
    given = configured_url(config, explicit)
    if given is not None:
        return DatabaseTarget(*given)
    return DatabaseTarget(start_embedded(config.base_dir), "embedded")
