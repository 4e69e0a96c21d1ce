"""Where a run is: a thread-safe tally of its events, and snapshots with rates and an ETA.

``ProgressState`` is a Reporter. Views (the terminal bars, the periodic log
line, the Prometheus endpoint, the run's timeline) read its snapshots; the
clock is a parameter, so tests drive time by hand and never sleep.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.report.position import ReadPositionProbe, bytes_to_read

if TYPE_CHECKING:
    from pgingest.summary import RunReport

__all__ = ["FileProgress", "ProgressSnapshot", "ProgressState", "estimate_rows"]

# Rates are measured over the last seconds of the run, not since its start, so
# the ETA follows a load that speeds up or slows down (as rich does, over 30 s).
RATE_WINDOW_SECONDS = 15.0
# Rate samples are kept at most this often, so a busy run does not grow the window.
RATE_SAMPLE_SECONDS = 0.5
# A file is never shown as complete before it commits.
MAX_ACTIVE_FRACTION = 0.99

# A file still loading is measured by the rows it sent as well as the bytes read:
# pyarrow reads megabytes ahead of the rows it hands over, so bytes alone showed
# a file at 98 % with half its rows sent. Its rows are estimated from the line
# breaks in its first bytes, until a file of its source finishes and gives the
# real bytes per row.
ROW_SAMPLE_BYTES = 64 << 10
# Formats with one record a line (mostly: a quoted line break makes the estimate
# high, so the bar lags rather than leads).
LINE_FORMATS = ("csv", "tsv", "ndjson", "fixed_width")
# Files whose rows are estimated in one snapshot, at most: each reads its first
# bytes, and a group of small files (pipeline/unit/group.py) holds up to 200
# files active at once, most of them committed before a later snapshot.
ESTIMATES_PER_SNAPSHOT = 8

FractionProbe = Callable[[SourceFile, int], "float | None"]
RowEstimate = Callable[[SourceFile], "int | None"]


def estimate_rows(file: SourceFile) -> int | None:
    """About how many records a file (or its chunk) holds; None when it cannot tell.

    Its size over the bytes per line of its first ROW_SAMPLE_BYTES, less a
    header line; only for uncompressed local files of one record a line.
    """
    if file.format not in LINE_FORMATS or file.compression is not None or file.origin is not None:
        return None
    size = bytes_to_read(file)
    start = file.chunk.start if file.chunk is not None else 0
    try:
        with open(file.path, "rb") as handle:
            handle.seek(start)
            sample = handle.read(min(ROW_SAMPLE_BYTES, size))
    except OSError:
        return None
    lines = sample.count(b"\n")
    if not lines:
        return None
    if len(sample) >= size:
        total = lines + (0 if sample.endswith(b"\n") else 1)
    else:
        total = round(size * lines / (sample.rfind(b"\n") + 1))  # whole lines only
    has_header = start == 0 and file.format in ("csv", "tsv")
    return max(total - (1 if has_header else 0), 1)


@dataclass(frozen=True)
class FileProgress:
    """A file being loaded now."""

    file: SourceFile
    rows: int
    fraction: float | None  # of its rows sent and bytes read, the lesser; None when unknown
    seconds: float
    restarts: int = 0
    expected_rows: int | None = None  # about how many rows it holds, when that can be told


@dataclass(frozen=True)
class ProgressSnapshot:
    """The run at one moment."""

    elapsed: float  # since the run's first event
    loading_seconds: float  # since the files started loading
    files_total: int
    files_succeeded: int
    files_failed: int
    files_skipped: int
    bytes_total: int
    bytes_done: float  # of finished files, and the read fraction of active ones
    rows: int  # committed, plus sent by files still loading
    rows_committed: int
    batches: int
    rows_per_second: float
    bytes_per_second: float
    active: tuple[FileProgress, ...] = ()
    failures: tuple[str, ...] = ()
    is_started: bool = False  # discovery is done and the totals are known
    is_finished: bool = False

    @property
    def files_done(self) -> int:
        """Files that finished one way or another."""
        return self.files_succeeded + self.files_failed

    @property
    def fraction(self) -> float:
        """0..1 of the bytes to load."""
        if self.bytes_total <= 0:
            return self.files_done / self.files_total if self.files_total else 0.0
        return min(self.bytes_done / self.bytes_total, 1.0)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the recent rate; None until there is a rate."""
        if self.is_finished:
            return 0.0
        if self.bytes_per_second <= 0 or self.bytes_total <= 0:
            return None
        return max(self.bytes_total - self.bytes_done, 0.0) / self.bytes_per_second


@dataclass
class _Active:
    file: SourceFile
    started: float
    rows: int = 0
    fraction: float = 0.0
    restarts: int = 0
    expected_rows: int | None = None
    is_estimated: bool = False  # expected_rows was looked for (once a file)


@dataclass
class _Tally:
    files_total: int = 0
    bytes_total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    bytes_finished: int = 0
    rows_committed: int = 0
    batches: int = 0
    loading_since: float | None = None
    finished: bool = False
    failures: list[str] = field(default_factory=list)


class ProgressState:
    """Counts a run's events; ``snapshot()`` says where it stands. A Reporter."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        probe: FractionProbe | None = None,
        row_estimate: RowEstimate = estimate_rows,
    ) -> None:
        self._clock = clock
        self._row_estimate = row_estimate
        if probe is None:
            position = ReadPositionProbe()
            probe = lambda file, rows: position.fraction(file, rows=rows)  # noqa: E731
        self._probe = probe
        self._lock = threading.Lock()
        self._started = clock()
        self._tally = _Tally()
        self._active: dict[str, _Active] = {}
        # Bytes per row of finished files, by source and compression: pyarrow reads a
        # few MB ahead of the rows it hands over, which on files of tens of MB makes
        # the read offset run far ahead; rows times this ratio does not.
        self._bytes_per_row: dict[tuple[str, str | None], float] = {}
        self._samples: deque[tuple[float, float, int]] = deque()

    def stage_started(self, stage: str) -> None:
        """Nothing to count."""

    def stage_finished(self, stage: str, *, seconds: float, figures: Mapping[str, float]) -> None:
        """Nothing to count."""

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """The totals are known."""
        with self._lock:
            self._tally.files_total = files
            self._tally.bytes_total = total_bytes
            self._tally.loading_since = self._clock()

    def unit_started(self, file: SourceFile) -> None:
        """A file joins the active ones."""
        with self._lock:
            self._active[file.label] = _Active(file, self._clock())

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """More rows of an active file were sent."""
        with self._lock:
            self._tally.batches += 1
            active = self._active.get(file.label)
            if active is None:  # a reporter may join a run already going
                active = self._active[file.label] = _Active(file, self._clock())
            active.rows += rows
            active.fraction = max(active.fraction, min(fraction, MAX_ACTIVE_FRACTION))

    def unit_restarted(self, file: SourceFile, *, reason: str) -> None:
        """The rows sent so far were rolled back; the bytes read stay counted."""
        with self._lock:
            active = self._active.get(file.label)
            if active is not None:
                active.rows = 0
                active.restarts += 1

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """A file committed."""
        with self._lock:
            self._active.pop(file.label, None)
            self._tally.succeeded += 1
            self._tally.bytes_finished += bytes_to_read(file)
            self._tally.rows_committed += rows
            if rows > 0:
                self._bytes_per_row[(file.source, file.compression)] = bytes_to_read(file) / rows

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """A file failed; a loading file's bytes count as done (no more will be read of it)."""
        with self._lock:
            self._tally.failures.append(error.describe())
            self._tally.failed += 1
            if file is not None and self._active.pop(file.label, None) is not None:
                self._tally.bytes_finished += bytes_to_read(file)

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """Skipped before loading (already loaded), or by another run while loading."""
        with self._lock:
            self._tally.skipped += 1
            if self._active.pop(file.label, None) is not None:
                self._tally.bytes_finished += bytes_to_read(file)

    def run_finished(self, report: RunReport) -> None:
        """The run is over."""
        with self._lock:
            self._tally.finished = True
            self._active.clear()

    def snapshot(self) -> ProgressSnapshot:
        """Where the run stands now (reads how far active files are, outside the lock)."""
        with self._lock:
            active = [
                (a, self._bytes_per_row.get((a.file.source, a.file.compression)))
                for a in self._active.values()
            ]
            active_now = [
                (a.file, a.started, a.rows, a.fraction, a.restarts, a.expected_rows)
                for a, _ in active
            ]
            ratios = [ratio for _, ratio in active]
            # A finished file of the source gives its bytes per row: no estimate is needed.
            unestimated = [a.file for a, ratio in active if not a.is_estimated and ratio is None]
            unestimated = unestimated[:ESTIMATES_PER_SNAPSHOT]
        estimates = {file.label: self._row_estimate(file) for file in unestimated}
        if estimates:
            with self._lock:
                for label, expected in estimates.items():
                    if label in self._active:
                        self._active[label].expected_rows = expected
                        self._active[label].is_estimated = True
        now = self._clock()
        files: list[FileProgress] = []
        for (file, started, rows, seen, restarts, estimated), ratio in zip(
            active_now, ratios, strict=True
        ):
            size = bytes_to_read(file)
            expected = estimates.get(file.label, estimated)
            if ratio is not None and size > 0:
                expected = max(round(size / ratio), 1)  # a finished file's bytes per row
            fractions = [self._probe(file, rows), rows / expected if expected else None]
            known = [f for f in fractions if f is not None]
            fraction = seen if not known else max(seen, min(*known, MAX_ACTIVE_FRACTION))
            files.append(
                FileProgress(file, rows, fraction or None, now - started, restarts, expected)
            )
        with self._lock:
            for progress in files:  # keep the largest fraction seen: bars never go back
                kept = self._active.get(progress.file.label)
                if kept is not None and progress.fraction is not None:
                    kept.fraction = max(kept.fraction, progress.fraction)
            tally = self._tally
            bytes_done = tally.bytes_finished + sum(
                bytes_to_read(f.file) * (f.fraction or 0) for f in files
            )
            rows = tally.rows_committed + sum(f.rows for f in files)
            rows_rate, bytes_rate = self._rates(now, rows, bytes_done)
            return ProgressSnapshot(
                elapsed=now - self._started,
                loading_seconds=now - tally.loading_since if tally.loading_since else 0.0,
                files_total=tally.files_total,
                files_succeeded=tally.succeeded,
                files_failed=tally.failed,
                files_skipped=tally.skipped,
                bytes_total=tally.bytes_total,
                bytes_done=bytes_done,
                rows=rows,
                rows_committed=tally.rows_committed,
                batches=tally.batches,
                rows_per_second=rows_rate,
                bytes_per_second=bytes_rate,
                active=tuple(sorted(files, key=lambda f: -f.seconds)),
                failures=tuple(tally.failures),
                is_started=tally.loading_since is not None,
                is_finished=tally.finished,
            )

    def _rates(self, now: float, rows: int, bytes_done: float) -> tuple[float, float]:
        """Rows and bytes per second over the recent window (call under the lock)."""
        since = self._tally.loading_since
        if since is None:
            return 0.0, 0.0
        samples = self._samples
        if not samples or now - samples[-1][0] >= RATE_SAMPLE_SECONDS:
            samples.append((now, bytes_done, rows))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_SECONDS:
            samples.popleft()
        start, start_bytes, start_rows = samples[0]
        if now - start < 1.0:  # too little of the window yet: the average since loading began
            start, start_bytes, start_rows = since, 0.0, 0
        span = now - start
        if span <= 0:
            return 0.0, 0.0
        return max(rows - start_rows, 0) / span, max(bytes_done - start_bytes, 0.0) / span
