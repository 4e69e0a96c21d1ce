"""A run's lock: held while the run lasts, so a run left ``running`` by a kill is told apart.

A run takes a session-level advisory lock named after its id on a connection
of its own and keeps it until it ends. A ``pgingest.runs`` row still
``running`` whose lock nobody holds belongs to a run that was killed (or
ended in an internal error before it could finish its row): the next run
(and ``pgingest runs``, ``report`` and ``status``) marks it ``interrupted``.
PostgreSQL releases a session's advisory locks when the session ends, however
the client died.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import psycopg

from pgingest.load.connect import connect

__all__ = ["hold_run_lock", "mark_interrupted"]

logger = logging.getLogger(__name__)

# A run's advisory lock key is a 64-bit hash of "pgingest run " and its id.
_TAKE_LOCK = "SELECT pg_advisory_lock(hashtextextended('pgingest run ' || %s::text, 0))"
_MARK_INTERRUPTED = """
    UPDATE pgingest.runs SET status = 'interrupted'
    WHERE status = 'running'
      AND pg_try_advisory_xact_lock(hashtextextended('pgingest run ' || run_id::text, 0))
"""


def hold_run_lock(url: str, run_id: uuid.UUID) -> psycopg.Connection[Any]:
    """A connection holding the run's lock until it is closed (close it when the run ends)."""
    conn = connect(url)
    try:
        conn.execute(_TAKE_LOCK, (str(run_id),))
    except BaseException:
        conn.close()
        raise
    return conn


def mark_interrupted(conn: psycopg.Connection[Any]) -> int:
    """Mark ``interrupted`` the runs still ``running`` whose lock is gone; how many were.

    Trying a run's lock takes it for the statement's transaction only. A role
    that may not write pgingest.runs leaves the rows as they are.
    """
    row = conn.execute("SELECT to_regclass('pgingest.runs') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return 0
    try:
        with conn.transaction():
            marked = conn.execute(_MARK_INTERRUPTED).rowcount
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction):
        return 0
    if marked:
        logger.info("marked %d run(s) interrupted: killed, or ended in an internal error", marked)
    return marked
