"""Connections and the pool, and the one place psycopg errors become pgingest errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Unpack

import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from pgingest.errors import ConnectError, ErrorContext, LoadError
from pgingest.load.login import login_refusal_sqlstate
from pgingest.redact import redact_text, redact_url

__all__ = [
    "APPLICATION_NAME",
    "TRANSIENT_SQLSTATES",
    "connect",
    "free_connections",
    "is_transient_sqlstate",
    "open_pool",
    "translate_db_error",
]

logger = logging.getLogger(__name__)

APPLICATION_NAME = "pgingest"

# Seconds to wait for a connection before calling the database unreachable.
CONNECT_TIMEOUT_SECONDS = 10

# SQLSTATEs worth a retry (PostgreSQL Appendix A): the class 08 connection
# errors and class 53 resource errors by class; the rest one by one.
TRANSIENT_CLASSES = ("08", "53")
TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "57P05",  # idle_session_timeout: the server closed an idle connection
}


def is_transient_sqlstate(sqlstate: str | None) -> bool:
    """Whether a failure with this SQLSTATE may succeed if tried again."""
    if not sqlstate:
        return False
    return sqlstate in TRANSIENT_SQLSTATES or sqlstate[:2] in TRANSIENT_CLASSES


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def translate_db_error(
    exc: BaseException, *, url: str | None = None, **context: Unpack[ErrorContext]
) -> LoadError:
    """A psycopg error as a LoadError with its SQLSTATE, detail and hint; passwords removed."""
    if isinstance(exc, LoadError):
        return exc.with_context(**context)
    sqlstate = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    message = _first_line(getattr(diag, "message_primary", None) or str(exc)) or type(exc).__name__
    detail = getattr(diag, "message_detail", None)
    hint = getattr(diag, "message_hint", None)
    column = getattr(diag, "column_name", None)
    if detail:
        message = f"{message} ({_first_line(detail)})"
    if url:
        message = redact_text(message, url)
    # OperationalError without a SQLSTATE is a broken connection: worth a retry.
    transient = is_transient_sqlstate(sqlstate) or (
        isinstance(exc, psycopg.OperationalError) and sqlstate is None
    )
    error_class = (
        ConnectError
        if isinstance(exc, (psycopg.OperationalError, PoolTimeout))
        and (sqlstate is None or sqlstate.startswith(("08", "28", "3D", "57P03")))
        else LoadError
    )
    context.setdefault("column", column)
    return error_class(message, hint=hint, is_transient=transient, sqlstate=sqlstate, **context)


def _connect_kwargs() -> dict[str, Any]:
    return {
        "autocommit": True,
        "application_name": APPLICATION_NAME,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }


def connect(url: str) -> psycopg.Connection[Any]:
    """A new autocommit connection; ConnectError with a remedy if it cannot be made."""
    try:
        return psycopg.connect(url, **_connect_kwargs())
    except psycopg.ProgrammingError as exc:
        raise ConnectError(
            f"invalid database URL {redact_url(url)}: {redact_text(_first_line(str(exc)), url)}",
            hint="use a URL like postgresql://user@host:port/database, or key=value pairs "
            "(the password may be in it, in PGPASSWORD or in ~/.pgpass)",
        ) from None
    except psycopg.Error as exc:
        raise _refusal(url, exc) from None


def _refusal(url: str, exc: psycopg.Error) -> ConnectError:
    """Why a connection failed, classified by SQLSTATE where the server gave one."""
    error = translate_db_error(exc, url=url)
    pgconn = getattr(exc, "pgconn", None)
    refused_password = bool(pgconn is not None and pgconn.used_password)
    answer = _ping(url)
    sqlstate = error.sqlstate
    if sqlstate is None and answer == pq.Ping.OK and not refused_password:
        # The server answers but refused the login: ask it for the SQLSTATE.
        sqlstate = login_refusal_sqlstate(_probe_conninfo(url), timeout=CONNECT_TIMEOUT_SECONDS)
    if sqlstate is not None:
        is_transient = is_transient_sqlstate(sqlstate)
    else:
        # No SQLSTATE: a server that answers (PQping) refused the login (role,
        # password, database) and a retry cannot help; one that does not may come back.
        refused_login = refused_password or answer in (pq.Ping.OK, pq.Ping.NO_ATTEMPT)
        is_transient = error.is_transient and not refused_login
    return ConnectError(
        f"cannot connect to {redact_url(url)}: {error.message}",
        hint=error.hint
        or _connect_hint(
            sqlstate, refused_password=refused_password, server_answers=answer == pq.Ping.OK
        ),
        is_transient=is_transient,
        sqlstate=sqlstate,
    )


def _probe_conninfo(url: str) -> str:
    kwargs = {k: v for k, v in _connect_kwargs().items() if k != "autocommit"}
    try:
        return psycopg.conninfo.make_conninfo(url, **kwargs)
    except psycopg.ProgrammingError:
        return url


def _ping(url: str) -> pq.Ping | None:
    try:
        return pq.Ping(pq.PGconn.ping(url.encode()))
    except (ValueError, psycopg.Error):
        return None


# Remedies for the SQLSTATEs of a refused login (PostgreSQL Appendix A).
_LOGIN_HINTS = {
    "28P01": "check the user name and password in the database URL",
    "28000": "the server has no such role, or pg_hba.conf does not let it in from here",
    "3D000": "create the database first, or fix its name in the URL",
    "53300": "the server (or this role's CONNECTION LIMIT) has no connection free: "
    "pgingest retried under settings.retry.db; lower --connections or raise the limit",
    "57P03": "the server is starting or shutting down; pgingest retried under settings.retry.db",
}


def _connect_hint(
    sqlstate: str | None, *, refused_password: bool = False, server_answers: bool = False
) -> str:
    if refused_password:
        return _LOGIN_HINTS["28P01"]
    if sqlstate in _LOGIN_HINTS:
        return _LOGIN_HINTS[sqlstate]
    if server_answers:
        return (
            "the server is up but refused this login: check the user, password and "
            "database name in the URL (the database must exist)"
        )
    return (
        "check that PostgreSQL is running and the URL is right; "
        "or leave DATABASE_URL unset to use pgingest's embedded PostgreSQL"
    )


def free_connections(conn: psycopg.Connection[Any]) -> int | None:
    """Connections this role may still open on the server, None if it cannot tell.

    The least of what max_connections leaves, and, for a role that is not a
    superuser (they are exempt), its own CONNECTION LIMIT and the database's.
    """
    try:
        row = conn.execute(
            """
            WITH client AS (
                SELECT usesysid, datid FROM pg_stat_activity WHERE backend_type = 'client backend'
            ), me AS (
                SELECT oid, rolconnlimit, rolsuper FROM pg_roles WHERE rolname = current_user
            )
            SELECT least(
                current_setting('max_connections')::int
                    - current_setting('superuser_reserved_connections')::int
                    - coalesce(current_setting('reserved_connections', true)::int, 0)
                    - (SELECT count(*) FROM client),
                (SELECT rolconnlimit - (SELECT count(*) FROM client WHERE usesysid = me.oid)
                 FROM me WHERE rolconnlimit >= 0 AND NOT rolsuper),
                (SELECT d.datconnlimit - (SELECT count(*) FROM client WHERE datid = d.oid)
                 FROM pg_database d, me
                 WHERE d.datname = current_database() AND d.datconnlimit >= 0 AND NOT me.rolsuper)
            )
            """
        ).fetchone()
    except psycopg.Error:
        return None
    # The connection asking is about to close, so it counts as free.
    return None if row is None else int(row[0]) + 1


def open_pool(
    url: str,
    size: int,
    *,
    configure: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> ConnectionPool:
    """A pool of exactly ``size`` connections, opened and checked before it is returned.

    ``configure`` runs on each new connection (a run takes its lock there).
    """
    pool: ConnectionPool = ConnectionPool(
        url,
        min_size=size,
        max_size=size,
        kwargs=_connect_kwargs(),
        configure=configure,
        open=False,
        name="pgingest",
        timeout=CONNECT_TIMEOUT_SECONDS * 6,
        reconnect_timeout=CONNECT_TIMEOUT_SECONDS * 6,
        check=ConnectionPool.check_connection,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS * 3)
    except PoolTimeout as exc:
        pool.close()
        raise ConnectError(
            f"could not open {size} connections to {redact_url(url)}",
            hint="lower --connections, or raise max_connections on the server",
            is_transient=True,
        ) from exc
    return pool
