"""A run's lock: held while the run lasts, so a run left ``running`` by a kill is told apart.

Every connection of a run's pool takes a shared session-level advisory lock
named after the run's id when it opens, and keeps it until it closes. A
``pgingest.runs`` row still ``running`` whose lock no session holds belongs to
a run that was killed (or ended in an internal error before it could finish
its row): the next run (and ``pgingest runs``, ``report`` and ``status``)
marks it ``interrupted``. PostgreSQL releases a session's advisory locks when
the session ends, however the client died, and the lock costs no connection
of its own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from pgingest.store.schema import has_tables

__all__ = ["mark_interrupted", "run_lock_taker", "take_run_lock"]

logger = logging.getLogger(__name__)

# A run's advisory lock key is a 64-bit hash of "pgingest run " and its id.
_TAKE_LOCK = "SELECT pg_advisory_lock_shared(hashtextextended('pgingest run ' || %s::text, 0))"
_MARK_INTERRUPTED = """
    UPDATE pgingest.runs SET status = 'interrupted'
    WHERE status = 'running'
      AND pg_try_advisory_xact_lock(hashtextextended('pgingest run ' || run_id::text, 0))
"""


def take_run_lock(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> None:
    """Hold the run's lock (shared) on this connection until it closes."""
    conn.execute(_TAKE_LOCK, (str(run_id),))
    if not conn.autocommit:
        conn.commit()


def run_lock_taker(run_id: uuid.UUID) -> Callable[[psycopg.Connection[Any]], None]:
    """What a run's pool does with each new connection: take the run's lock."""
    return lambda conn: take_run_lock(conn, run_id)


def mark_interrupted(conn: psycopg.Connection[Any]) -> int:
    """Mark ``interrupted`` the runs still ``running`` whose lock is gone; how many were.

    Trying a run's lock takes it for the statement's transaction only. A role
    that may not write pgingest.runs leaves the rows as they are.
    """
    if not has_tables(conn, "runs"):
        return 0
    try:
        with conn.transaction():
            marked = conn.execute(_MARK_INTERRUPTED).rowcount
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction):
        return 0
    if marked:
        logger.info("marked %d run(s) interrupted: killed, or ended in an internal error", marked)
    return marked
