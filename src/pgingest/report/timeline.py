"""How a run went over time: rows and bytes done, sampled as it goes, for the run report.

The samples draw the throughput chart of ``pgingest report --html``. However
long the run, the timeline stays small: past ``MAX_POINTS`` every other point
goes and the sampling interval doubles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.report.progress import ProgressSnapshot, ProgressState
from pgingest.report.reporter import NullReporter

__all__ = ["MAX_POINTS", "Timeline"]

# Enough points for a smooth chart a few hundred pixels wide; a long run thins them.
MAX_POINTS = 240
# The first interval between samples; it doubles whenever the timeline fills up.
FIRST_INTERVAL_SECONDS = 0.25


def _point(snapshot: ProgressSnapshot) -> dict[str, float]:
    return {
        "seconds": round(snapshot.elapsed, 3),
        "rows": snapshot.rows,
        "bytes": round(snapshot.bytes_done),
        "files": snapshot.files_done,
    }


class Timeline(NullReporter):
    """Samples a ProgressState (told of events before it) at most every interval."""

    def __init__(
        self,
        state: ProgressState,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = FIRST_INTERVAL_SECONDS,
    ) -> None:
        self._state = state
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._points: list[dict[str, float]] = []
        self._last: float | None = None

    def _sample(self, *, force: bool = False) -> None:
        now = self._clock()
        with self._lock:
            if not force and self._last is not None and now - self._last < self._interval:
                return
            self._last = now
        point = _point(self._state.snapshot())
        with self._lock:
            self._points.append(point)
            if len(self._points) > MAX_POINTS:
                self._points = self._points[::2]
                self._interval *= 2

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """The first point: nothing loaded yet."""
        self._sample(force=True)

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """Maybe a point."""
        self._sample()

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """Maybe a point."""
        self._sample()

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """Maybe a point."""
        self._sample()

    def points(self) -> list[dict[str, float]]:
        """The samples so far, and one for now: seconds since the start, rows, bytes, files."""
        self._sample(force=True)
        with self._lock:
            return list(self._points)
