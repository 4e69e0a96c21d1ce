"""The run's summary: one object, one serializer, every view.

A run's figures are computed once (pipeline/summary.py) into a ``RunReport``.
The terminal summary, the ``--report`` JSON, the ``pgingest.runs`` row, ``pgingest
runs --json``, the HTML page and the Prometheus figures all render that object,
and every JSON form of it comes from ``RunReport.to_dict`` (read back with
``RunReport.from_dict``). A stored run is the same object, with the status and
config its ``pgingest.runs`` row adds.

A new record figure is a field of ``RecordFigures`` named as the unit result's
attribute: it is summed over the units, checked per table, written under
``records`` and read back without another edit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

__all__ = [
    "STAGES",
    "FailedFile",
    "FileFigures",
    "RecordFigures",
    "RunReport",
    "TableFigures",
]

# The stages of the flow, in order, as the run report names them.
STAGES = ("discover", "fingerprint", "parse", "convert", "validate", "encode", "copy", "merge")

# The kinds of retry the report counts, in the order it lists them.
RETRY_KINDS = ("file", "db", "careful")

# Run states pgingest.runs holds; ``running`` and ``interrupted`` runs have no end.
UNFINISHED = ("running", "interrupted")


@dataclass(frozen=True)
class _Counts:
    """Whole-number figures by name: written as an object, read back with zeros for keys missing."""

    def to_dict(self) -> dict[str, int]:
        """Every figure by name."""
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """From ``to_dict`` (one written by an older version lacks some figures: zeros)."""
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})


@dataclass(frozen=True)
class RecordFigures(_Counts):
    """What became of the records: parsed = inserted + updated + duplicates + skipped + rejected.

    Each field is summed from the unit results' attribute of the same name.
    """

    parsed: int = 0
    inserted: int = 0  # new rows only: rows an upsert updated count in ``updated``
    rejected: int = 0
    updated: int = 0
    duplicates: int = 0  # merged away: a later row of the same file had the same key
    warned: int = 0  # broke a rule whose action is warn, and loaded
    # Of the rows inserted or updated, those loaded with a value in the source's
    # rescued_column (a field the table lacks, or a value that failed conversion).
    # Not a fate of its own: counted in inserted/updated, so not in ``accounted``.
    rescued: int = 0
    # Sent, but a BEFORE trigger on the table returned NULL: not stored, not inserted.
    skipped_by_trigger: int = 0

    @classmethod
    def total(cls, results: Iterable[object]) -> RecordFigures:
        """Every figure summed over ``results`` (each has an int attribute per field)."""
        sums = dict.fromkeys((f.name for f in fields(cls)), 0)
        for result in results:
            for name in sums:
                sums[name] += int(getattr(result, name))
        return cls(**sums)

    @property
    def accounted(self) -> int:
        """Records whose fate is known; equals ``parsed`` when the figures add up.

        Every other fate a record can have (rescued rows) must be added here too,
        or the summary says the figures do not add up.
        """
        fates = (self.inserted, self.updated, self.duplicates, self.skipped_by_trigger)
        return sum(fates) + self.rejected


@dataclass(frozen=True)
class FileFigures(_Counts):
    """How many files the run attempted, loaded, failed and skipped (already loaded)."""

    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0


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
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailedFile:
        """From ``to_dict``."""
        return cls(
            str(data.get("path", "")),
            str(data.get("stage", "")),
            str(data.get("error", "")),
            data.get("source"),
            data.get("table"),
        )


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
    """Every figure of a run; a stored run adds its status and config."""

    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime  # a run with no end (still running, or killed): its start
    files: FileFigures = field(default_factory=FileFigures)
    records: RecordFigures = field(default_factory=RecordFigures)
    stages: dict[str, float] = field(default_factory=dict)
    stages_wall: dict[str, float] = field(default_factory=dict)
    failed_files: list[FailedFile] = field(default_factory=list)
    tables: dict[str, TableFigures] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bytes_read: int = 0
    database: str | None = None
    retries: dict[str, int] = field(default_factory=dict)
    # Per table, the record figures of its loaded files: each must add up on its own.
    reconciliation: dict[str, dict[str, int]] = field(default_factory=dict)
    batches: int = 0  # batches sent to the server (a file read again sends its batches again)
    peak_memory_bytes: int = 0  # the process's peak resident memory
    # How the load went over time: seconds since the start → rows and bytes done by then.
    timeline: list[dict[str, float]] = field(default_factory=list)
    # Files whose encoding was detected (not declared, not UTF-8): path → e.g. "cp1252".
    encodings: dict[str, str] = field(default_factory=dict)
    # As pgingest.runs keeps it: running, interrupted (killed), succeeded, failed;
    # "" for a report not read back from the database (then it follows the figures).
    stored_status: str = ""
    config_path: str | None = None

    # The figures by their flat names, as the library has always offered them.
    @property
    def files_attempted(self) -> int:
        """Files the run tried to load."""
        return self.files.attempted

    @property
    def files_succeeded(self) -> int:
        """Files whose rows landed."""
        return self.files.succeeded

    @property
    def files_failed(self) -> int:
        """Files that did not load."""
        return self.files.failed

    @property
    def files_skipped(self) -> int:
        """Files already loaded (by an earlier run, or by another run meanwhile)."""
        return self.files.skipped

    @property
    def records_parsed(self) -> int:
        """Records read from the files."""
        return self.records.parsed

    @property
    def records_inserted(self) -> int:
        """New rows."""
        return self.records.inserted

    @property
    def records_rejected(self) -> int:
        """Records set aside in pgingest.rejects."""
        return self.records.rejected

    @property
    def records_updated(self) -> int:
        """Rows an upsert updated."""
        return self.records.updated

    @property
    def records_duplicates(self) -> int:
        """Rows merged away: a later row of the same file had the same key."""
        return self.records.duplicates

    @property
    def records_warned(self) -> int:
        """Rows that broke a warn rule and loaded."""
        return self.records.warned

    @property
    def records_rescued(self) -> int:
        """Rows loaded with a rescued value (already counted as inserted or updated)."""
        return self.records.rescued

    @property
    def records_skipped_by_trigger(self) -> int:
        """Rows a BEFORE trigger turned away."""
        return self.records.skipped_by_trigger

    @property
    def records_accounted(self) -> int:
        """Records the run can say what became of; equals records_parsed."""
        return self.records.accounted

    @property
    def records_loaded(self) -> int:
        """Rows written to the tables: inserted plus updated."""
        return self.records.inserted + self.records.updated

    @property
    def is_finished(self) -> bool:
        """False for a stored run still going, or killed before it recorded its end."""
        return self.stored_status not in UNFINISHED

    @property
    def status(self) -> str:
        """running, interrupted, succeeded or failed."""
        if self.stored_status:
            return self.stored_status
        return "succeeded" if self.is_success else "failed"

    @property
    def seconds(self) -> float:
        """Wall time of the whole run (0 for a run with no end)."""
        return (self.finished_at - self.started_at).total_seconds()

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
        return self.files.failed == 0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data; the keys are a contract (see DESIGN.md)."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.is_finished else None,
            "status": self.status,
            "config_path": self.config_path,
            "seconds": round(self.seconds, 6),
            "files": self.files.to_dict(),
            "records": self.records.to_dict(),
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

    def to_json(self, *, indent: int | None = None) -> str:
        """``to_dict`` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def write(self, path: str | Path) -> None:
        """Write the JSON report to ``path``."""
        Path(path).write_text(self.to_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        """The report again from ``to_dict`` (one of an older version lacks some keys: zeros)."""
        started = _time(data.get("started_at")) or dt.datetime.now(dt.UTC)
        table_seconds = data.get("table_seconds") or {}
        return cls(
            run_id=str(data.get("run_id") or ""),
            started_at=started,
            finished_at=_time(data.get("finished_at")) or started,
            files=FileFigures.from_dict(data.get("files") or {}),
            records=RecordFigures.from_dict(data.get("records") or {}),
            stages=_in_flow_order(data.get("stages") or {}),
            stages_wall=_in_flow_order(data.get("stages_wall") or {}),
            failed_files=[FailedFile.from_dict(f) for f in data.get("failed_files") or []],
            tables={
                name: TableFigures(int(rows), float(table_seconds.get(name, 0.0)))
                for name, rows in sorted((data.get("tables") or {}).items())
            },
            warnings=[str(w) for w in data.get("warnings") or []],
            bytes_read=int(data.get("bytes_read", 0)),
            database=data.get("database"),
            retries=_retries_in_order(data.get("retries") or {}),
            reconciliation=dict(data.get("reconciliation") or {}),
            batches=int(data.get("batches", 0)),
            peak_memory_bytes=int(data.get("peak_memory_bytes", 0)),
            timeline=list(data.get("timeline") or []),
            encodings={str(k): str(v) for k, v in (data.get("encodings") or {}).items()},
            stored_status=str(data.get("status") or ""),
            config_path=data.get("config_path"),
        )


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _in_flow_order(stages: Mapping[str, Any]) -> dict[str, float]:
    """Stages in the order they run (jsonb keeps keys in an order of its own)."""
    ordered = [name for name in STAGES if name in stages]
    ordered += sorted(name for name in stages if name not in STAGES)
    return {name: float(stages[name]) for name in ordered}


def _retries_in_order(retries: Mapping[str, Any]) -> dict[str, int]:
    kinds: list[str] = [k for k in RETRY_KINDS if k in retries]
    kinds += sorted(k for k in retries if k not in kinds)
    return {kind: int(retries[kind]) for kind in kinds}
