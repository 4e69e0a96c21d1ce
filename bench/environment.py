"""What the results were measured on: date, machine, server and tool versions."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from database import server_version

GIB = 1 << 30
DISTRIBUTIONS = ("pgingest", "pyarrow", "psycopg", "adbc-driver-postgresql", "duckdb")


def describe_environment(database_url: str) -> dict[str, Any]:
    """A flat description for the results' header."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {memory / GIB:.0f} GiB, {platform.platform()}",
        "postgresql": server_version(database_url),
        "python": platform.python_version(),
        "versions": ", ".join(f"{name} {_version(name)}" for name in DISTRIBUTIONS),
        "pgloader": _pgloader_version(),
    }


def load_average() -> str:
    """The 1-minute load average: above the core count, other work shared the machine."""
    return f"{os.getloadavg()[0]:.2f}"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _pgloader_version() -> str:
    try:
        output = subprocess.run(
            ["pgloader", "--version"], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        return "not installed"
    first = output.splitlines()[0] if output else "unknown"
    return first.strip()
