"""A run in log lines: each stage's start and end with its figures, and progress off a terminal.

Both are Reporters that log through ``logging``; neither configures a handler
(the CLI does, see log_setup.py). Figures travel as the ``figures`` attribute
of each record too, so a JSON log line carries them as fields.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.report.formatting import counted, format_bytes, format_rate, format_seconds
from pgingest.report.position import bytes_to_read
from pgingest.report.progress import ProgressSnapshot, ProgressState
from pgingest.report.reporter import NullReporter

if TYPE_CHECKING:
    from pgingest.summary import RunReport

__all__ = ["PROGRESS_LOGGER", "LogProgress", "StageLogger", "describe_progress"]

logger = logging.getLogger(__name__)

# Progress lines have their own logger, so the CLI can show them while other
# INFO lines stay hidden.
PROGRESS_LOGGER = "pgingest.progress"

# Off a terminal, one progress line this often: a CI log shows a long load
# moving without thousands of lines.
PROGRESS_LOG_SECONDS = 10.0


def _figures_text(figures: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in figures.items())


class StageLogger(NullReporter):
    """Logs each stage's start and end, each file's, and the run's, with their figures."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._file_started: dict[str, float] = {}
        self._run_started: float | None = None

    def stage_started(self, stage: str) -> None:
        """``discover: started``."""
        logger.info("%s: started", stage, extra={"stage": stage})

    def stage_finished(self, stage: str, *, seconds: float, figures: Mapping[str, float]) -> None:
        """``discover: finished in 0.0s: files 12, bytes 4.5 MB``."""
        logger.info(
            "%s: finished in %s: %s",
            stage,
            format_seconds(seconds),
            _figures_text(figures),
            extra={"stage": stage, "seconds": round(seconds, 6), "figures": dict(figures)},
        )

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """``load: started: 12 files, 4.5 MB``."""
        self._run_started = self._clock()
        logger.info(
            "load: started: %s, %s",
            counted(files, "file"),
            format_bytes(total_bytes),
            extra={"stage": "load", "figures": {"files": files, "bytes": total_bytes}},
        )

    def unit_started(self, file: SourceFile) -> None:
        """``/data/a.csv: loading (csv, 1.2 MB)``."""
        if not logger.isEnabledFor(logging.INFO):
            return  # (its figures are not formatted for nobody: issue 12, 20,000 small files)
        with self._lock:
            self._file_started[file.label] = self._clock()
        kind = file.format + (f"+{file.compression}" if file.compression else "")
        logger.info(
            "%s: loading (%s, %s)",
            file.label,
            kind,
            format_bytes(bytes_to_read(file)),
            extra={"path": file.path, "figures": {"bytes": bytes_to_read(file)}},
        )

    def unit_restarted(self, file: SourceFile, *, reason: str) -> None:
        """``/data/a.csv: reading again from the start: ...``."""
        logger.info("%s: reading again from the start: %s", file.label, reason)

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """``/data/a.csv: loaded 1,000 rows in 0.4s (2,500 rows/s)``."""
        with self._lock:
            started = self._file_started.pop(file.label, None)
        if not logger.isEnabledFor(logging.INFO):
            return
        seconds = self._clock() - started if started is not None else 0.0
        rate = rows / seconds if seconds > 0 else 0.0
        logger.info(
            "%s: loaded %s in %s (%s)",
            file.label,
            counted(rows, "row"),
            format_seconds(seconds),
            format_rate(rate, "rows"),
            extra={
                "path": file.path,
                "seconds": round(seconds, 6),
                "figures": {"rows": rows, "bytes": bytes_to_read(file)},
            },
        )

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """Debug only: a re-run skips every file it loaded before."""
        logger.debug("%s: skipped (%s)", file.label, reason)

    def run_finished(self, report: RunReport) -> None:
        """``load: finished in 2.1s: ...`` with the run's figures, then the stages' times."""
        figures = report.to_dict()
        logger.info(
            "load: finished in %s: %s loaded, %d failed, %d skipped; "
            "%s records parsed, %s inserted, %s updated, %s duplicates, %s rejected; %s read (%s)",
            format_seconds(report.seconds),
            counted(report.files_succeeded, "file"),
            report.files_failed,
            report.files_skipped,
            f"{report.records_parsed:,}",
            f"{report.records_inserted:,}",
            f"{report.records_updated:,}",
            f"{report.records_duplicates:,}",
            f"{report.records_rejected:,}",
            format_bytes(report.bytes_read),
            format_rate(report.rows_per_second, "rows"),
            extra={
                "stage": "load",
                "seconds": figures["seconds"],
                "figures": {k: figures[k] for k in ("files", "records", "bytes_read")},
            },
        )
        busy = ", ".join(
            f"{name} {format_seconds(seconds)} busy / "
            f"{format_seconds(report.stages_wall.get(name, 0.0))} wall"
            for name, seconds in report.stages.items()
            if seconds or report.stages_wall.get(name)
        )
        logger.info(
            "stages: %s",
            busy or "none timed",
            extra={"figures": {"busy": figures["stages"], "wall": figures["stages_wall"]}},
        )


def describe_progress(snapshot: ProgressSnapshot) -> str:
    """One line: how far, how fast, how long still."""
    text = (
        f"{snapshot.fraction:.0%} ({format_bytes(snapshot.bytes_done)} of "
        f"{format_bytes(snapshot.bytes_total)}), {snapshot.files_succeeded} of "
        f"{counted(snapshot.files_total, 'file')} loaded"
    )
    if snapshot.files_failed:
        text += f", {snapshot.files_failed} failed"
    return text + (
        f", {counted(snapshot.rows, 'row')}, {format_rate(snapshot.rows_per_second, 'rows')}, "
        f"{format_rate(snapshot.bytes_per_second, 'bytes')}, "
        f"ETA {format_seconds(snapshot.eta_seconds)}"
    )


def _progress_figures(snapshot: ProgressSnapshot) -> dict[str, Any]:
    return {
        "fraction": round(snapshot.fraction, 4),
        "bytes_done": int(snapshot.bytes_done),
        "bytes_total": snapshot.bytes_total,
        "files_total": snapshot.files_total,
        "files_succeeded": snapshot.files_succeeded,
        "files_failed": snapshot.files_failed,
        "rows": snapshot.rows,
        "rows_per_sec": round(snapshot.rows_per_second, 1),
        "bytes_per_sec": round(snapshot.bytes_per_second, 1),
        "eta_seconds": None if snapshot.eta_seconds is None else round(snapshot.eta_seconds, 1),
    }


class LogProgress(NullReporter):
    """Off a terminal: a progress line every ``interval`` seconds, and each failure at once.

    It reads a ProgressState that is told of events first:
    ``CompositeReporter(state, LogProgress(state))``. It logs from the events
    themselves (a load sends one every batch), so it needs no thread of its own.
    """

    def __init__(
        self,
        state: ProgressState,
        *,
        interval: float = PROGRESS_LOG_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._logger = logging.getLogger(PROGRESS_LOGGER)

    def _tick(self) -> None:
        now = self._clock()
        with self._lock:
            if now - self._last < self._interval:
                return
            self._last = now
        snapshot = self._state.snapshot()
        self._logger.info(
            "progress: %s",
            describe_progress(snapshot),
            extra={"figures": _progress_figures(snapshot)},
        )

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """Maybe time for a line."""
        self._tick()

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """Maybe time for a line."""
        self._tick()

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """Said at once."""
        self._logger.warning(
            "failed: %s", error.describe(), extra={"path": file.path if file else None}
        )
        self._tick()
