"""What a run tells its observer as it goes: a small Protocol and a null implementation."""

from __future__ import annotations

from typing import Protocol

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError

__all__ = ["NullReporter", "Reporter"]


class Reporter(Protocol):
    """Receives a run's events; the CLI draws progress from them, tests record them."""

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """Discovery is done: this many files (and bytes) will be loaded."""
        ...

    def unit_started(self, file: SourceFile) -> None:
        """A file started loading."""
        ...

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """More rows of ``file`` were sent; ``fraction`` of it has been read (0..1)."""
        ...

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """A file landed (committed)."""
        ...

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """A file failed; nothing of it remains."""
        ...

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """A file was not loaded (already loaded and unchanged, for example)."""
        ...


class NullReporter:
    """A reporter that ignores everything (library use, tests)."""

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """Ignored."""

    def unit_started(self, file: SourceFile) -> None:
        """Ignored."""

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """Ignored."""

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """Ignored."""

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """Ignored."""

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """Ignored."""
