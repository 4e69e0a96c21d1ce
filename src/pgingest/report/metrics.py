"""Counters and stage timers of a run: plain numbers, safe across threads, with a snapshot."""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pgingest.summary import STAGES

__all__ = ["STAGES", "Metrics", "MetricsSnapshot", "peak_memory_bytes"]


def peak_memory_bytes() -> int:
    """The most resident memory this process has held so far (ru_maxrss)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # getrusage(2): kilobytes on Linux, bytes on macOS.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


@dataclass(frozen=True)
class MetricsSnapshot:
    """The figures at one moment."""

    counters: dict[str, int] = field(default_factory=dict)
    stage_busy: dict[str, float] = field(default_factory=dict)
    stage_wall: dict[str, float] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> int:
        """A counter's value (0 if never counted)."""
        return self.counters.get(name, 0)


class Metrics:
    """Counters and per-stage busy and wall time; ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, int] = defaultdict(int)
        self._busy: dict[str, float] = defaultdict(float)
        self._first_start: dict[str, float] = {}
        self._last_end: dict[str, float] = {}
        self._tables: dict[str, int] = defaultdict(int)

    def add(self, name: str, amount: int = 1) -> None:
        """Add to a counter."""
        with self._lock:
            self._counters[name] += amount

    def add_table_rows(self, table: str, rows: int) -> None:
        """Rows that landed in a table."""
        with self._lock:
            self._tables[table] += rows

    def record_stage(self, name: str, start: float, end: float) -> None:
        """A stretch of work in a stage: its busy time adds up, its wall time spans."""
        with self._lock:
            self._busy[name] += end - start
            self._first_start[name] = min(self._first_start.get(name, start), start)
            self._last_end[name] = max(self._last_end.get(name, end), end)

    def now(self) -> float:
        """The metrics clock."""
        return self._clock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as work of stage ``name``."""
        start = self._clock()
        try:
            yield
        finally:
            self.record_stage(name, start, self._clock())

    def merge(self, other: MetricsSnapshot) -> None:
        """Add figures measured elsewhere (a Dask worker): counters, rows and busy time.

        Another process's clock cannot be compared with this one, so its stage
        spans count as busy time and stretch a stage's wall time by their length.
        """
        with self._lock:
            for name, value in other.counters.items():
                self._counters[name] += value
            for name, rows in other.table_rows.items():
                self._tables[name] += rows
            now = self._clock()
            for name, busy in other.stage_busy.items():
                self._busy[name] += busy
                span = other.stage_wall.get(name, busy)
                self._first_start[name] = min(self._first_start.get(name, now - span), now - span)
                self._last_end[name] = max(self._last_end.get(name, now), now)

    def snapshot(self) -> MetricsSnapshot:
        """A consistent copy of every figure."""
        with self._lock:
            wall = {
                name: self._last_end[name] - self._first_start[name] for name in self._first_start
            }
            return MetricsSnapshot(
                counters=dict(self._counters),
                stage_busy=dict(self._busy),
                stage_wall=wall,
                table_rows=dict(self._tables),
            )
