"""What a run tells its observers as it goes: a small Protocol, a null one, and a fan-out.

Events arrive from many worker threads at once; a reporter guards its own state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError

if TYPE_CHECKING:
    from pgingest.summary import RunReport

__all__ = ["CompositeReporter", "NullReporter", "Reporter"]

logger = logging.getLogger(__name__)

# A figure of a stage as stage_finished reports it (a count, bytes, seconds).
Figure = int | float


class Reporter(Protocol):
    """Receives a run's events; the CLI draws progress from them, tests record them."""

    def stage_started(self, stage: str) -> None:
        """A run-wide stage (discover, fingerprint) began."""
        ...

    def stage_finished(self, stage: str, *, seconds: float, figures: Mapping[str, Figure]) -> None:
        """A run-wide stage ended, after ``seconds``, with what it found."""
        ...

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """Discovery is done: this many files (and bytes) will be loaded."""
        ...

    def unit_started(self, file: SourceFile) -> None:
        """A file started loading."""
        ...

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """One more batch of ``rows`` rows of ``file`` was sent to the server.

        ``fraction`` is how much of the file has been read (0..1), or 0.0 when
        the sender cannot tell; pgingest.report.position measures it from outside.
        """
        ...

    def unit_restarted(self, file: SourceFile, *, reason: str) -> None:
        """The file's attempt rolled back and it is read again from the start."""
        ...

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """A file landed (committed) with ``rows`` rows."""
        ...

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """A file failed; nothing of it remains."""
        ...

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """A file was not loaded (already loaded and unchanged, for example)."""
        ...

    def run_finished(self, report: RunReport) -> None:
        """The run is over; ``report`` has every figure."""
        ...


class NullReporter:
    """A reporter that ignores everything (library use, tests)."""

    def stage_started(self, stage: str) -> None:
        """Ignored."""

    def stage_finished(self, stage: str, *, seconds: float, figures: Mapping[str, Figure]) -> None:
        """Ignored."""

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """Ignored."""

    def unit_started(self, file: SourceFile) -> None:
        """Ignored."""

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """Ignored."""

    def unit_restarted(self, file: SourceFile, *, reason: str) -> None:
        """Ignored."""

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """Ignored."""

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """Ignored."""

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """Ignored."""

    def run_finished(self, report: RunReport) -> None:
        """Ignored."""


class CompositeReporter:
    """Passes every event to each of several reporters, in order.

    A reporter written before an event existed (one without the method) is
    passed over for that event rather than failing the run; a reporter that
    raises is logged and does not stop the others or the load.
    """

    def __init__(self, *reporters: Reporter | None) -> None:
        self.reporters = tuple(r for r in reporters if r is not None)

    def _send(self, event: str, *args: Any, **kwargs: Any) -> None:
        for reporter in self.reporters:
            method = getattr(reporter, event, None)
            if method is None:
                continue
            try:
                method(*args, **kwargs)
            except Exception:  # an observer's bug must not fail the load it observes
                logger.exception("reporter %s failed on %s", type(reporter).__name__, event)

    def stage_started(self, stage: str) -> None:
        """To each reporter."""
        self._send("stage_started", stage)

    def stage_finished(self, stage: str, *, seconds: float, figures: Mapping[str, Figure]) -> None:
        """To each reporter."""
        self._send("stage_finished", stage, seconds=seconds, figures=figures)

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """To each reporter."""
        self._send("run_started", files=files, total_bytes=total_bytes)

    def unit_started(self, file: SourceFile) -> None:
        """To each reporter."""
        self._send("unit_started", file)

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """To each reporter."""
        self._send("rows_loaded", file, rows=rows, fraction=fraction)

    def unit_restarted(self, file: SourceFile, *, reason: str) -> None:
        """To each reporter."""
        self._send("unit_restarted", file, reason=reason)

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """To each reporter."""
        self._send("unit_finished", file, rows=rows)

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """To each reporter."""
        self._send("unit_failed", file, error)

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """To each reporter."""
        self._send("file_skipped", file, reason)

    def run_finished(self, report: RunReport) -> None:
        """To each reporter."""
        self._send("run_finished", report)
