"""Why a server refused a login, by SQLSTATE, which libpq does not keep for a failed connection.

A refused login may be worth a retry (53300 too many connections, 57P03 the
server is starting) or not (28P01 wrong password, 3D000 no such database);
only the SQLSTATE tells, never the localised message. libpq keeps none for a
connection that failed (psycopg's error has ``sqlstate`` None), but at error
verbosity "sqlstate" it writes the message as ``FATAL:  53300`` (libpq docs,
PQsetErrorVerbosity). psycopg does not expose that setting, so one more login
attempt is made through libpq itself (ctypes), the same library psycopg's own
ctypes binding loads. Anything unexpected gives None: the caller then falls
back on what PQping says.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import re
import select
import time
from functools import cache

from psycopg.pq import misc as psycopg_misc

__all__ = ["login_refusal_sqlstate"]

logger = logging.getLogger(__name__)

# libpq-fe.h: PostgresPollingStatusType and PGVerbosity.
_POLLING_FAILED, _POLLING_READING, _POLLING_WRITING, _POLLING_OK = 0, 1, 2, 3
_VERBOSITY_SQLSTATE = 3

# "FATAL:  53300" at the end of the message, after libpq's "connection to server ... failed: ".
_SQLSTATE_MESSAGE = re.compile(r"\b(?:FATAL|ERROR|PANIC):\s+([0-9A-Z]{5})\s*$")


@cache
def _libpq() -> ctypes.CDLL | None:
    try:
        # The libpq psycopg's own ctypes binding would load, else the system's.
        finder = getattr(psycopg_misc, "find_libpq_full_path", None)
        name = (finder() if finder else None) or ctypes.util.find_library("pq")
        if not name:
            return None
        lib = ctypes.cdll.LoadLibrary(name)
    except OSError:
        return None
    lib.PQconnectStart.argtypes = [ctypes.c_char_p]
    lib.PQconnectStart.restype = ctypes.c_void_p
    for function in ("PQconnectPoll", "PQsocket"):
        getattr(lib, function).argtypes = [ctypes.c_void_p]
        getattr(lib, function).restype = ctypes.c_int
    lib.PQsetErrorVerbosity.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.PQsetErrorVerbosity.restype = ctypes.c_int
    lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
    lib.PQerrorMessage.restype = ctypes.c_char_p
    lib.PQfinish.argtypes = [ctypes.c_void_p]
    lib.PQfinish.restype = None
    return lib


def _poll(lib: ctypes.CDLL, conn: int, deadline: float) -> int:
    """Drive a non-blocking connection to its end (libpq docs, PQconnectStartParams)."""
    status = _POLLING_WRITING
    while status in (_POLLING_READING, _POLLING_WRITING):
        left = deadline - time.monotonic()
        if left <= 0:
            return _POLLING_FAILED
        socket = lib.PQsocket(conn)
        if socket < 0:
            return _POLLING_FAILED
        reading = [socket] if status == _POLLING_READING else []
        writing = [socket] if status == _POLLING_WRITING else []
        select.select(reading, writing, [], left)
        status = lib.PQconnectPoll(conn)
    return int(status)


def login_refusal_sqlstate(conninfo: str, *, timeout: float) -> str | None:
    """The SQLSTATE with which the server refuses this login now, or None if it cannot tell."""
    lib = _libpq()
    if lib is None:
        return None
    conn = lib.PQconnectStart(conninfo.encode())
    if not conn:
        return None
    try:
        lib.PQsetErrorVerbosity(conn, _VERBOSITY_SQLSTATE)
        if _poll(lib, conn, time.monotonic() + timeout) == _POLLING_OK:
            return None  # it let us in this time
        message = (lib.PQerrorMessage(conn) or b"").decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        logger.debug("could not ask the server why it refused the login: %r", exc)
        return None
    finally:
        lib.PQfinish(conn)
    found = _SQLSTATE_MESSAGE.search(message.strip())
    return found.group(1) if found else None
