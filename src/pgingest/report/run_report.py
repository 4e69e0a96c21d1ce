"""The run report: what a run did, as the ``--report`` JSON and ``pgingest.runs`` hold it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgingest.report.metrics import STAGES, MetricsSnapshot

__all__ = ["FailedFile", "RunReport", "TableFigures"]


@dataclass(frozen=True)
class FailedFile:
    """A file that did not load, the stage where it failed, and why."""

    path: str
    stage: str
    error: str
    source: str | None = None
    table: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the report lists it."""
        return {
            "path": self.path,
            "stage": self.stage,
            "error": self.error,
            "source": self.source,
            "table": self.table,
        }


@dataclass(frozen=True)
class TableFigures:
    """Rows and time for one target table."""

    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Throughput into this table over its load time."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RunReport:
    """Every figure of a run."""

    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    files_attempted: int
    files_succeeded: int
    files_failed: int
    files_skipped: int
    records_parsed: int
    records_inserted: int  # new rows only: rows an upsert updated count in records_updated
    records_rejected: int
    stages: dict[str, float]
    stages_wall: dict[str, float]
    failed_files: list[FailedFile]
    tables: dict[str, TableFigures]
    warnings: list[str] = field(default_factory=list)
    bytes_read: int = 0
    database: str | None = None
    retries: dict[str, int] = field(default_factory=dict)
    records_updated: int = 0
    records_duplicates: int = 0  # merged away: a later row of the same file had the same key
    records_warned: int = 0  # broke a rule whose action is warn, and loaded
    # Sent, but a BEFORE trigger on the table returned NULL: not stored, not inserted.
    records_skipped_by_trigger: int = 0
    reconciliation: dict[str, dict[str, int]] = field(default_factory=dict)
    batches: int = 0  # batches sent to the server (a file read again sends its batches again)
    peak_memory_bytes: int = 0  # the process's peak resident memory
    # How the load went over time: seconds since the start → rows and bytes done by then.
    timeline: list[dict[str, float]] = field(default_factory=list)
    # Files whose encoding was detected (not declared, not UTF-8): path → e.g. "cp1252".
    encodings: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time of the whole run."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def records_loaded(self) -> int:
        """Rows written to the tables: inserted plus updated."""
        return self.records_inserted + self.records_updated

    @property
    def records_accounted(self) -> int:
        """Records the run can say what became of; equals records_parsed.

        parsed = inserted + updated + duplicates + skipped by a trigger + rejected.
        Every other fate a record can have (rescued rows) must be added here too,
        or the summary says the figures do not add up.
        """
        return (
            self.records_inserted
            + self.records_updated
            + self.records_duplicates
            + self.records_skipped_by_trigger
            + self.records_rejected
        )

    @property
    def rows_per_second(self) -> float:
        """Rows written (inserted or updated) per second of the whole run."""
        return self.records_loaded / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        """MB (2**20 bytes, as pgingest prints sizes) of loaded files read per second."""
        return self.bytes_read / 2**20 / self.seconds if self.seconds > 0 else 0.0

    @property
    def is_success(self) -> bool:
        """True when no file failed."""
        return self.files_failed == 0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data; the keys are a contract (see DESIGN.md)."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "seconds": round(self.seconds, 6),
            "files": {
                "attempted": self.files_attempted,
                "succeeded": self.files_succeeded,
                "failed": self.files_failed,
                "skipped": self.files_skipped,
            },
            "records": {
                "parsed": self.records_parsed,
                "inserted": self.records_inserted,
                "rejected": self.records_rejected,
                "updated": self.records_updated,
                "duplicates": self.records_duplicates,
                "warned": self.records_warned,
                "skipped_by_trigger": self.records_skipped_by_trigger,
            },
            "stages": {name: round(value, 6) for name, value in self.stages.items()},
            "stages_wall": {name: round(value, 6) for name, value in self.stages_wall.items()},
            "throughput_rows_per_sec": round(self.rows_per_second, 1),
            "throughput_mb_per_sec": round(self.megabytes_per_second, 3),
            "bytes_read": self.bytes_read,
            "batches": self.batches,
            "peak_memory_bytes": self.peak_memory_bytes,
            "retries": dict(self.retries),
            "reconciliation": {
                name: dict(figures) for name, figures in self.reconciliation.items()
            },
            "failed_files": [f.to_dict() for f in self.failed_files],
            "tables": {name: figures.rows for name, figures in self.tables.items()},
            "table_seconds": {name: round(f.seconds, 6) for name, f in self.tables.items()},
            "warnings": list(self.warnings),
            "database": self.database,
            "timeline": [dict(point) for point in self.timeline],
            "encodings": dict(self.encodings),
        }

    def write(self, path: str | Path) -> None:
        """Write the JSON report to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @staticmethod
    def stage_figures(snapshot: MetricsSnapshot) -> tuple[dict[str, float], dict[str, float]]:
        """Busy and wall seconds per stage, in flow order, every stage present."""
        busy = {name: snapshot.stage_busy.get(name, 0.0) for name in STAGES}
        wall = {name: snapshot.stage_wall.get(name, 0.0) for name in STAGES}
        return busy, wall
