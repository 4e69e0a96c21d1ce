"""Fixtures: a real PostgreSQL for every test, each test in a fresh database.

``PGINGEST_TEST_DATABASE_URL`` names the server (CI gives the one at
127.0.0.1:5432); without it the suite starts pgingest's embedded PostgreSQL
once per session, exactly as a user without a database gets it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgingest.config import Config, parse_config
from pgingest.embedded import start_embedded, stop_embedded
from pgingest.pipeline import RunOptions, run
from pgingest.summary import RunReport

TEST_URL_ENV = "PGINGEST_TEST_DATABASE_URL"
ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the server under test (its maintenance database)."""
    given = os.environ.get(TEST_URL_ENV)
    if given:
        yield given
        return
    folder = tmp_path_factory.mktemp("embedded")
    yield start_embedded(folder)
    stop_embedded(folder)


def with_database(url: str, name: str) -> str:
    """The same server, another database."""
    return psycopg.conninfo.make_conninfo(url, dbname=name)


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test; dropped afterwards."""
    name = f"pgingest_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    """Write data_files.json into ``folder``."""
    path = folder / "data_files.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def load(database_url: str, tmp_path: Path) -> Callable[..., RunReport]:
    """Run pgingest on a config dict (paths relative to tmp_path) into the test database."""

    def loader(data: dict[str, Any], *, base_dir: Path | None = None) -> RunReport:
        config: Config = parse_config(data, base_dir=base_dir or tmp_path)
        return run(config, RunOptions(database_url=database_url))

    return loader


def rows(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[tuple[Any, ...]]:
    """All rows of a query."""
    return conn.execute(query, params or None).fetchall()
