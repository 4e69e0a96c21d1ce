"""Retry policies: exponential backoff with jitter, separate for files and the database,
only for transient failures, classified by type and SQLSTATE."""

from __future__ import annotations

import errno

import pytest

from pgingest.config import RetryPolicy, RetrySettings
from pgingest.errors import ConnectError, LoadError, ParseError, SourceError
from pgingest.load.connect import is_transient_sqlstate
from pgingest.retry import Retrier, failure_kind


class _Flaky:
    """Fails with the given errors, then returns "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def _retrier(file: RetryPolicy, db: RetryPolicy) -> tuple[Retrier, list[float], list[str]]:
    sleeps: list[float] = []
    kinds: list[str] = []
    retrier = Retrier(
        RetrySettings(file=file, db=db),
        sleep=sleeps.append,
        on_retry=lambda kind, _exc: kinds.append(kind),
    )
    return retrier, sleeps, kinds


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [
        ("08006", True),
        ("08001", True),
        ("40001", True),
        ("40P01", True),
        ("53300", True),
        ("55P03", True),
        ("57P01", True),
        ("57P02", True),
        ("57P03", True),
        ("23505", False),
        ("22001", False),
        ("42501", False),
        ("28P01", False),
        (None, False),
    ],
)
def test_sqlstate_classification(sqlstate: str | None, transient: bool) -> None:
    assert is_transient_sqlstate(sqlstate) is transient


def test_failure_kinds() -> None:
    assert failure_kind(LoadError("x", is_transient=True)) == "db"
    assert failure_kind(ConnectError("x", is_transient=True)) == "db"
    assert failure_kind(LoadError("constraint")) is None
    assert failure_kind(SourceError("x", is_transient=True)) == "file"
    assert failure_kind(ParseError("bad value")) is None
    assert failure_kind(TimeoutError()) == "file"
    assert failure_kind(OSError(errno.ESTALE, "stale")) == "file"
    assert failure_kind(PermissionError(errno.EACCES, "denied")) is None
    assert failure_kind(ValueError("bug")) is None


def test_transient_failures_are_retried_with_exponential_backoff() -> None:
    db = RetryPolicy(attempts=4, initial_delay=1.0, multiplier=2.0, max_delay=30.0)
    retrier, sleeps, kinds = _retrier(RetryPolicy(attempts=1), db)
    flaky = _Flaky(*(LoadError("gone", is_transient=True) for _ in range(3)))
    assert retrier.call(flaky, what="test") == "done"
    assert flaky.calls == 4
    assert kinds == ["db", "db", "db"]
    # 1, 2, 4 seconds, each plus up to one initial delay of jitter
    for sleep, base in zip(sleeps, [1.0, 2.0, 4.0], strict=True):
        assert base <= sleep <= base + 1.0


def test_attempts_are_counted_per_kind() -> None:
    retrier, _, kinds = _retrier(
        RetryPolicy(attempts=2, initial_delay=0), RetryPolicy(attempts=2, initial_delay=0)
    )
    flaky = _Flaky(SourceError("x", is_transient=True), LoadError("y", is_transient=True))
    assert retrier.call(flaky, what="test") == "done"
    assert kinds == ["file", "db"]
    flaky = _Flaky(*(LoadError("y", is_transient=True) for _ in range(2)))
    with pytest.raises(LoadError):
        retrier.call(flaky, what="test")
    assert flaky.calls == 2


def test_permanent_failures_are_not_retried() -> None:
    retrier, sleeps, _ = _retrier(RetryPolicy(attempts=5), RetryPolicy(attempts=5))
    flaky = _Flaky(LoadError("duplicate key", sqlstate="23505"))
    with pytest.raises(LoadError, match="duplicate key"):
        retrier.call(flaky, what="test")
    assert flaky.calls == 1
    assert sleeps == []


def test_max_delay_and_deadline() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    db = RetryPolicy(attempts=100, initial_delay=1.0, multiplier=10.0, max_delay=5.0, deadline=12.0)
    retrier = Retrier(RetrySettings(db=db), sleep=sleep, clock=lambda: now[0])
    flaky = _Flaky(*(LoadError("gone", is_transient=True) for _ in range(100)))
    with pytest.raises(LoadError):
        retrier.call(flaky, what="test")
    assert all(s <= 5.0 + 1.0 for s in sleeps)
    assert now[0] <= 12.0
    assert flaky.calls < 10
