"""The run's summary, computed once from what the run found and what its units did.

``summarize`` makes the one ``RunReport`` every view renders; ``failures`` is the
one list of what did not load, which the report shows and the manifest records.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace

from pgingest.discover import DiscoveredSource
from pgingest.errors import PgIngestError
from pgingest.pipeline.prepare import PreparedSource
from pgingest.pipeline.unit import UnitResult, lacking_warning
from pgingest.report.metrics import MetricsSnapshot
from pgingest.report.position import bytes_to_read
from pgingest.store.rejects import Reject
from pgingest.summary import (
    RETRY_KINDS,
    STAGES,
    FailedFile,
    FileFigures,
    RecordFigures,
    RunReport,
    TableFigures,
)

__all__ = ["Failure", "RunOutcome", "failures", "summarize"]


@dataclass(frozen=True)
class RunOutcome:
    """Everything a run found and did, from which its summary is made."""

    run_id: uuid.UUID
    started_at: dt.datetime
    database: str
    config_path: str | None
    discovered: list[DiscoveredSource]
    prepared: list[PreparedSource]
    results: list[UnitResult]

    @property
    def succeeded(self) -> list[UnitResult]:
        """The units whose rows landed."""
        return [r for r in self.results if r.is_success]


@dataclass(frozen=True)
class Failure:
    """A file (or a part of one) that did not load: where, at which stage, and why."""

    path: str
    stage: str
    error: PgIngestError
    source: str
    table: str
    fingerprint: str | None = None
    part: str = ""  # "" for a whole file, "bytes START-END" for a chunk
    rejects: tuple[Reject, ...] = ()  # the rejects that failed it, kept for the user to fix

    def to_failed_file(self) -> FailedFile:
        """As the run report lists it (a chunk's error names its part)."""
        error = self.error.describe()
        return FailedFile(
            self.path,
            self.stage,
            f"({self.part}) {error}" if self.part else error,
            self.source,
            self.table,
        )


def failures(outcome: RunOutcome) -> list[Failure]:
    """What did not load: files that failed before loading, then units that failed."""
    found = [
        Failure(
            file.path if file else str(error.path or ""),
            stage,
            error,
            p.source.name,
            str(p.source.table_name),
        )
        for p in outcome.prepared
        for file, stage, error in p.failed
    ]
    found += [
        Failure(
            r.unit.file.path,
            r.stage or "load",
            r.error,
            r.unit.source.name,
            str(r.unit.table.name),
            fingerprint=r.unit.decision.fingerprint,
            part=r.unit.file.part,
            rejects=r.rejects,
        )
        for r in outcome.results
        if r.error is not None
    ]
    return found


def summarize(
    outcome: RunOutcome,
    metrics: MetricsSnapshot,
    *,
    batches: int = 0,
    peak_memory_bytes: int = 0,
    timeline: list[dict[str, float]] | None = None,
) -> RunReport:
    """The run's one report, with what the observers measured (batches, memory, timeline)."""
    failed = [f.to_failed_file() for f in failures(outcome)]
    succeeded = outcome.succeeded
    return RunReport(
        run_id=str(outcome.run_id),
        started_at=outcome.started_at,
        finished_at=dt.datetime.now(dt.UTC),
        files=_file_figures(outcome, failed),
        records=replace(
            RecordFigures.total(succeeded), parsed=sum(r.parsed for r in outcome.results)
        ),
        stages={name: metrics.stage_busy.get(name, 0.0) for name in STAGES},
        stages_wall={name: metrics.stage_wall.get(name, 0.0) for name in STAGES},
        failed_files=failed,
        tables=_table_figures(outcome),
        warnings=_warnings(outcome),
        bytes_read=sum(bytes_to_read(r.unit.file) for r in succeeded),
        retries={kind: metrics.count(f"retries.{kind}") for kind in RETRY_KINDS},
        reconciliation=_reconciliation(succeeded),
        database=outcome.database,
        encodings={r.unit.file.path: r.encoding for r in succeeded if r.encoding is not None},
        config_path=outcome.config_path,
        batches=batches,
        peak_memory_bytes=peak_memory_bytes,
        timeline=list(timeline or []),
    )


def _file_figures(outcome: RunOutcome, failed: list[FailedFile]) -> FileFigures:
    """Files attempted, loaded, failed and skipped; a file counts once however many parts."""
    results = outcome.results
    failed_paths = {f.path for f in failed}
    errored = {r.unit.file.path for r in results if r.error is not None}
    return FileFigures(
        attempted=len({r.unit.file.path for r in results if not r.skipped} | failed_paths),
        succeeded=len({r.unit.file.path for r in outcome.succeeded} - errored),
        failed=len(failed_paths),
        skipped=sum(len(p.skipped) for p in outcome.prepared) + sum(r.skipped for r in results),
    )


def _table_figures(outcome: RunOutcome) -> dict[str, TableFigures]:
    """Per target table: rows landed, and seconds from its first unit's start to its last end."""
    tables: dict[str, TableFigures] = {}
    for name in dict.fromkeys(str(p.source.table_name) for p in outcome.prepared):
        done = [r for r in outcome.succeeded if str(r.unit.table.name) == name]
        seconds = max((r.finished for r in done), default=0.0) - min(
            (r.started for r in done), default=0.0
        )
        tables[name] = TableFigures(sum(r.rows for r in done), seconds)
    return tables


def _reconciliation(succeeded: list[UnitResult]) -> dict[str, dict[str, int]]:
    """Per table, the record figures of its loaded files (parsed = the fates added up)."""
    by_table: dict[str, list[UnitResult]] = {}
    for result in succeeded:
        by_table.setdefault(str(result.unit.table.name), []).append(result)
    return {name: RecordFigures.total(done).to_dict() for name, done in by_table.items()}


def _warnings(outcome: RunOutcome) -> list[str]:
    """What loaded but deserves a look: unmatched patterns, trigger skips, folded paths…"""
    discovered, succeeded = outcome.discovered, outcome.succeeded
    warnings = [
        f"source {d.source.name}: pattern {pattern} matched no files"
        for d in discovered
        for pattern in d.unmatched_patterns
    ]
    warnings += [
        f"{r.unit.file.path}: {r.skipped_by_trigger} row{'s' if r.skipped_by_trigger != 1 else ''}"
        f" not inserted: a BEFORE trigger on {r.unit.table.name} turned them away"
        for r in succeeded
        if r.skipped_by_trigger
    ]
    warnings += [
        f"source {d.source.name}: {alias.path} is {alias.kept} ({alias.reason}); loaded once"
        for d in discovered
        for alias in d.folded
    ]
    warnings += [lacking_warning(r.unit, r.lacking) for r in succeeded if r.lacking]
    warnings += [warning for p in outcome.prepared for warning in p.warnings]
    warnings += dict.fromkeys(note for r in succeeded for note in r.notes)
    return warnings
