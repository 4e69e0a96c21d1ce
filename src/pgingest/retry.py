"""Retries with exponential backoff and jitter, one policy for file work and one for database work.

Only transient failures are retried, classified by type and SQLSTATE, never by
message text: connection failures (class 08), resource shortages (class 53),
serialization failures (40001), deadlocks (40P01), lock timeouts (55P03), a
server shutting down, starting or closing an idle session (57P01, 57P02,
57P03, 57P05); the list is load/connect.py's. For files, the OSError
kinds a retry can cure (timeouts, interrupted or reset connections, stale NFS
handles). Data errors, constraint violations and permission errors never are.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal, TypeVar

import tenacity

from pgingest.config import RetryPolicy, RetrySettings
from pgingest.errors import LoadError, PgIngestError

__all__ = ["Retrier", "RetryKind", "failure_kind"]

logger = logging.getLogger(__name__)

RetryKind = Literal["file", "db"]
T = TypeVar("T")

# OSError kinds that may succeed on a second try: the storage or network hiccuped.
TRANSIENT_ERRNOS = {
    errno.EAGAIN,
    errno.EINTR,
    errno.ETIMEDOUT,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ESTALE,
    errno.EIO,
    errno.EBUSY,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
}


def failure_kind(exc: BaseException) -> RetryKind | None:
    """Which policy retries this failure, or None when a retry cannot help."""
    if isinstance(exc, PgIngestError):
        if not exc.is_transient:
            return None
        return "db" if isinstance(exc, LoadError) else "file"
    if isinstance(exc, (TimeoutError, ConnectionError, InterruptedError)):
        return "file"
    if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
        return "file"
    return None


def _waiter(policy: RetryPolicy) -> tenacity.wait.wait_base:
    return tenacity.wait_exponential_jitter(
        multiplier=policy.initial_delay,
        max=policy.max_delay,
        exp_base=policy.multiplier,
        jitter=policy.initial_delay,
    )


@dataclass
class Retrier:
    """Runs work again after transient failures, as the two policies say.

    ``sleep`` and ``clock`` are parameters so tests never wait; ``on_retry`` is
    told of every retry (the run counts them by kind).
    """

    settings: RetrySettings = field(default_factory=RetrySettings)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_retry: Callable[[RetryKind, BaseException], None] | None = None

    def policy(self, kind: RetryKind) -> RetryPolicy:
        """The policy for a kind of work."""
        return self.settings.file if kind == "file" else self.settings.db

    def call(self, work: Callable[[], T], *, what: str) -> T:
        """``work()``, retried while it fails transiently and its policy allows."""
        attempts: dict[RetryKind, int] = {"file": 0, "db": 0}
        started = self.clock()

        def kind_of(state: tenacity.RetryCallState) -> RetryKind | None:
            assert state.outcome is not None
            exc = state.outcome.exception()
            return failure_kind(exc) if exc is not None else None

        # tenacity asks for the wait before it asks whether to stop: the wait
        # counts the failed attempt, the stop reads the count.
        def wait(state: tenacity.RetryCallState) -> float:
            kind = kind_of(state)
            if kind is None:
                return 0.0
            attempts[kind] += 1
            # tenacity's wait reads only attempt_number; count this kind's attempts alone.
            state_of_kind: Any = SimpleNamespace(attempt_number=attempts[kind])
            delay = float(_waiter(self.policy(kind))(state_of_kind))
            deadline = self.policy(kind).deadline
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - (self.clock() - started)))
            return delay

        def should_stop(state: tenacity.RetryCallState) -> bool:
            kind = kind_of(state)
            if kind is None:
                return True
            policy = self.policy(kind)
            if attempts[kind] >= policy.attempts:
                return True
            return policy.deadline is not None and self.clock() - started >= policy.deadline

        def before_sleep(state: tenacity.RetryCallState) -> None:
            assert state.outcome is not None
            exc = state.outcome.exception()
            assert exc is not None
            kind = failure_kind(exc) or "db"
            reason = exc.describe() if isinstance(exc, PgIngestError) else f"{exc!r}"
            logger.warning(
                "%s: retrying (%s, attempt %d of %d) in %.2fs after: %s",
                what,
                kind,
                attempts[kind] + 1,
                self.policy(kind).attempts,
                state.upcoming_sleep,
                reason,
            )
            if self.on_retry is not None:
                self.on_retry(kind, exc)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: failure_kind(exc) is not None),
            stop=should_stop,
            wait=wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(work)
