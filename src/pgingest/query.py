"""A user's own query on pgingest's database: ``pgingest sql`` and ``pgingest psql``.

Which database: the URL given (flag, then DATABASE_URL), else the config's (its
``database_url``, or its folder's embedded PostgreSQL). ``sql`` runs in a
read-only transaction unless asked to write, so a typo cannot change loaded data.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from typing import IO, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgingest.config import Config
from pgingest.database import DATABASE_URL_ENV, DatabaseTarget, resolve_database
from pgingest.errors import ConfigError, LoadError
from pgingest.load.connect import connect, translate_db_error

__all__ = [
    "QueryResult",
    "database_for",
    "display_value",
    "psql_invocation",
    "run_query",
    "to_json_rows",
    "write_csv",
]

_NO_DATABASE_HINT = (
    "pass --database-url URL, set DATABASE_URL, or give the config file "
    "(or run this in the folder of data_files.json)"
)
# NULL in a table, so it differs from an empty string.
NULL_SHOWN = "∅"
# SQLSTATE 25006: a write inside a read-only transaction.
_READ_ONLY_SQLSTATE = "25006"
PSQL_INSTALL_HINT = (
    "install the PostgreSQL client (apt install postgresql-client, brew install libpq, "
    'or https://www.postgresql.org/download/), or use `pgingest sql "QUERY"`'
)


@dataclass(frozen=True)
class QueryResult:
    """What a statement returned: column names and rows, or only its status (``UPDATE 3``)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    status: str | None


def database_for(config: Config | None, explicit: str | None = None) -> DatabaseTarget:
    """The database to read: the URL given, else the config's; an error when there is neither."""
    if config is not None:
        return resolve_database(config, explicit)
    if explicit:
        return DatabaseTarget(explicit, "flag")
    from_env = os.environ.get(DATABASE_URL_ENV)
    if from_env:
        return DatabaseTarget(from_env, "environment")
    raise ConfigError("no database to read", hint=_NO_DATABASE_HINT)


def run_query(target: DatabaseTarget, text: str, *, write: bool = False) -> QueryResult:
    """Run one statement; a refusal by the server is a LoadError naming its SQLSTATE."""
    with connect(target.url) as conn:
        conn.read_only = not write
        try:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(text.encode())
                columns = [c.name for c in cursor.description or []]
                rows = cursor.fetchall() if cursor.description else []
                status = cursor.statusmessage
                if cursor.nextset():  # raising here rolls every statement back
                    raise ConfigError(
                        "pgingest sql runs one statement; the query has more than one",
                        hint="run each statement on its own, or use `pgingest psql`",
                    )
                return QueryResult(columns, rows, status)
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise LoadError(
                f"the query would change data: {exc.diag.message_primary}",
                hint="pgingest sql is read-only unless given --write",
                sqlstate=_READ_ONLY_SQLSTATE,
            ) from exc
        except psycopg.DatabaseError as exc:
            if exc.sqlstate is None:
                raise translate_db_error(exc, url=target.url) from exc
            raise LoadError(
                f"query failed: {exc.diag.message_primary} (SQLSTATE {exc.sqlstate})",
                sqlstate=exc.sqlstate,
            ) from exc


def _json_value(value: Any) -> Any:
    """A value as JSON keeps it exactly: numerics and timestamps as text, bytes as base64."""
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def to_json_rows(result: QueryResult) -> list[dict[str, Any]]:
    """The rows as a list of objects, column name → value."""
    return [
        {name: _json_value(value) for name, value in zip(result.columns, row, strict=True)}
        for row in result.rows
    ]


def display_value(value: Any) -> str:
    """A value as text for a table: JSON as JSON, bytea as ``\\x…``, NULL as ∅."""
    if value is None:
        return NULL_SHOWN
    text = _csv_value(value)
    return text if isinstance(text, str) else str(text)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    return value if isinstance(value, str) else str(value)


def write_csv(result: QueryResult, out: IO[str]) -> None:
    """The rows as CSV with a header line (NULL as an empty field)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_value(value) for value in row])


def psql_invocation(target: DatabaseTarget) -> tuple[list[str], dict[str, str]]:
    """psql's argv (no password in it) and environment (the password in PGPASSWORD)."""
    psql = shutil.which("psql")
    if psql is None:
        raise ConfigError("psql is not installed (or not on PATH)", hint=PSQL_INSTALL_HINT)
    params = {k: v for k, v in conninfo_to_dict(target.url).items() if v is not None}
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return [psql, make_conninfo("", **params)], env
