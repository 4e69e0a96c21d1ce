"""Terminal output with rich: progress while a run goes, a summary and the plan after."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.report.rejects import StoredReject
from pgingest.report.run_report import RunReport

if TYPE_CHECKING:
    from pgingest.pipeline.dry_run import RunPlan

__all__ = [
    "ProgressReporter",
    "format_bytes",
    "render_plan",
    "render_rejects",
    "render_summary",
]


def format_bytes(size: float) -> str:
    """1536 → '1.5 KB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


class ProgressReporter:
    """Rich progress bars: files done of all, and rows loaded; failures printed as they happen."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._console = console
        self._enabled = enabled
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self._task: TaskID | None = None
        self._rows = 0

    def __enter__(self) -> Self:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def run_started(self, *, files: int, total_bytes: int) -> None:
        """Create the overall bar."""
        self._task = self._progress.add_task("loading", total=files, rows=0)

    def unit_started(self, file: SourceFile) -> None:
        """Nothing to draw yet."""

    def rows_loaded(self, file: SourceFile, *, rows: int, fraction: float) -> None:
        """Count rows into the overall bar."""
        with self._lock:
            self._rows += rows
            if self._task is not None:
                self._progress.update(self._task, rows=self._rows)

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """One more file done."""
        if self._task is not None:
            self._progress.advance(self._task)

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """Say so at once, above the bar."""
        if self._task is not None and file is not None:
            self._progress.advance(self._task)
        if self._enabled:
            self._progress.console.print(
                f"[red]failed:[/] {error.describe()}", markup=True, highlight=False, soft_wrap=True
            )

    def file_skipped(self, file: SourceFile, reason: str) -> None:
        """Skips are summed up at the end."""


def render_summary(console: Console, report: RunReport) -> None:
    """Files, rows, seconds and rows/s per table, then failures."""
    table = Table(title=None, show_edge=False, header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("rows/s", justify="right")
    for name, figures in report.tables.items():
        table.add_row(
            name, f"{figures.rows:,}", f"{figures.seconds:.2f}", f"{figures.rows_per_second:,.0f}"
        )
    console.print(table)
    console.print(
        f"{report.files_succeeded} loaded, {report.files_skipped} skipped, "
        f"{report.files_failed} failed; {report.records_inserted:,} rows in "
        f"{report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)",
        markup=False,
        highlight=False,
    )
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, style="yellow", soft_wrap=True)
    for failed in report.failed_files:
        console.print(
            f"failed ({failed.stage}): {failed.error}", markup=False, style="red", soft_wrap=True
        )


def render_rejects(console: Console, rejects: Sequence[StoredReject]) -> None:
    """Rejected records as a table: where, which column and value, why."""
    if not rejects:
        console.print("no rejected records", markup=False)
        return
    table = Table(show_edge=False, header_style="bold")
    table.add_column("file:line", overflow="fold")
    table.add_column("column")
    table.add_column("value", overflow="fold")
    table.add_column("error", overflow="fold")
    for reject in rejects:
        where = f"{reject.source}:{reject.line}" if reject.line else reject.source
        table.add_row(where, reject.column or "", reject.value or "", reject.error)
    console.print(table)


def render_plan(console: Console, plan: RunPlan) -> None:
    """Each source: its table and columns, its files with size, format and what would happen."""
    console.print(f"database: {plan.database}", markup=False, highlight=False)
    for source in plan.sources:
        state = (
            "exists"
            if source.table_exists
            else ("will be created" if source.source.create else "MISSING")
        )
        console.print(
            f"\nsource {source.source.name} → {source.table} ({state}, mode {source.source.mode})",
            markup=False,
            highlight=False,
        )
        if source.problem:
            console.print(f"  problem: {source.problem}", markup=False, style="red")
        if source.table_columns:
            columns = ", ".join(f"{name} {sql_type}" for name, sql_type in source.table_columns)
            console.print(f"  columns: {columns}", markup=False, highlight=False, soft_wrap=True)
        for pattern in source.unmatched_patterns:
            console.print(f"  warning: {pattern} matches no files", markup=False, style="yellow")
        files = Table(show_edge=False, header_style="bold", pad_edge=False)
        files.add_column("file", overflow="fold")
        for heading in ("format", "size"):
            files.add_column(heading, no_wrap=True)
        files.add_column("action", overflow="fold")
        for file in source.files:
            fmt = file.format + (f"+{file.compression}" if file.compression else "")
            action = file.action if not file.problem else f"{file.action}: {file.problem}"
            files.add_row(plan.display_path(file.path), fmt, format_bytes(file.size), action)
        console.print(files)
        to_load = sum(1 for f in source.files if f.action == "load")
        console.print(
            f"  {len(source.files)} files, {to_load} to load, "
            f"{format_bytes(sum(f.size for f in source.files if f.action == 'load'))}",
            markup=False,
            highlight=False,
        )
