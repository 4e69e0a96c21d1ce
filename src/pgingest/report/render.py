"""Terminal output with rich: the summary and figures of a run, and the plan of one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from pgingest.report.formatting import counted, format_bytes, format_rate, format_seconds
from pgingest.summary import RunReport

if TYPE_CHECKING:
    from pgingest.plan import RunPlan, SourcePlan

__all__ = [
    "format_bytes",
    "records_line",
    "render_figures",
    "render_plan",
    "render_summary",
]


def _tables_table(report: RunReport) -> Table:
    table = Table(show_edge=False, header_style="bold")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("rows/s", justify="right")
    for name, figures in report.tables.items():
        table.add_row(
            name, f"{figures.rows:,}", f"{figures.seconds:.2f}", f"{figures.rows_per_second:,.0f}"
        )
    return table


def _stages_table(report: RunReport) -> Table:
    table = Table(show_edge=False, header_style="bold")
    table.add_column("stage")
    table.add_column("busy s", justify="right")
    table.add_column("wall s", justify="right")
    table.add_column("share of busy", justify="right")
    total = sum(report.stages.values())
    for name, busy in report.stages.items():
        wall = report.stages_wall.get(name, 0.0)
        if busy or wall:
            share = f"{busy / total:.0%}" if total > 0 else "-"
            table.add_row(name, f"{busy:.2f}", f"{wall:.2f}", share)
    return table


def records_line(report: RunReport) -> str:
    """``10 parsed = 7 inserted + 1 updated + 1 duplicate + 1 rejected``: the figures add up."""
    line = (
        f"{report.records_parsed:,} parsed = {report.records_inserted:,} inserted + "
        f"{report.records_updated:,} updated + {report.records_duplicates:,} "
        + ("duplicate" if report.records_duplicates == 1 else "duplicates")
        + (
            f" + {report.records_skipped_by_trigger:,} skipped by a trigger"
            if report.records_skipped_by_trigger
            else ""
        )
        + f" + {report.records_rejected:,} rejected"
    )
    if report.records_rescued:  # not a fate of its own: part of inserted and updated
        line += f" (of the rows loaded, {report.records_rescued:,} rescued)"
    if report.records_accounted != report.records_parsed:  # a run still going, or killed
        line += f" (only {report.records_accounted:,} accounted for)"
    return line


def _figures_table(report: RunReport) -> Table:
    table = Table(show_edge=False, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row(
        "files",
        f"{report.files_attempted:,} attempted, {report.files_succeeded:,} loaded, "
        f"{report.files_failed:,} failed, {report.files_skipped:,} skipped",
    )
    table.add_row("records", records_line(report))
    table.add_row(
        "read",
        f"{format_bytes(report.bytes_read)} in {report.batches:,} "
        + ("batch" if report.batches == 1 else "batches"),
    )
    table.add_row(
        "throughput",
        f"{format_rate(report.rows_per_second, 'rows')}, "
        f"{report.megabytes_per_second:,.1f} MB/s over {format_seconds(report.seconds)}",
    )
    retries = ", ".join(f"{count:,} {kind}" for kind, count in report.retries.items())
    table.add_row("retries", retries or "none")
    if report.peak_memory_bytes:
        table.add_row("peak memory", format_bytes(report.peak_memory_bytes))
    return table


def render_figures(console: Console, report: RunReport) -> None:
    """Every figure of a run: files, records, bytes, throughput, retries, stages, memory."""
    console.print(_figures_table(report))
    stages = _stages_table(report)
    if stages.row_count:
        console.print(stages)


def render_summary(console: Console, report: RunReport, *, is_detailed: bool = True) -> None:
    """Rows, seconds and rows/s per table, then every figure, then warnings and failures."""
    if report.tables:
        console.print(_tables_table(report))
    if is_detailed:
        render_figures(console, report)
    console.print(
        f"{report.files_succeeded} loaded, {report.files_skipped} skipped, "
        f"{report.files_failed} failed; {counted(report.records_loaded, 'row')} in "
        f"{report.seconds:.2f} s ({report.rows_per_second:,.0f} rows/s)",
        markup=False,
        highlight=False,
    )
    if report.records_rescued:
        console.print(
            f"note: {counted(report.records_rescued, 'row')} loaded with values kept in "
            "the rescued column (fields the table lacks, or values that did not convert)",
            markup=False,
            style="yellow",
        )
    if report.records_warned:
        console.print(
            f"warning: {counted(report.records_warned, 'row')} broke a warn rule and loaded",
            markup=False,
            style="yellow",
        )
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, style="yellow", soft_wrap=True)
    for failed in report.failed_files:
        console.print(
            f"failed ({failed.stage}): {failed.error}", markup=False, style="red", soft_wrap=True
        )


def render_plan(console: Console, plan: RunPlan) -> None:
    """Each source: its table and columns, its files with size, format and what would happen."""
    console.print(f"database: {plan.database}", markup=False, highlight=False)
    for source in plan.sources:
        _render_source_head(console, plan, source)
        console.print(_plan_files_table(plan, source))
        to_load = [f for f in source.files if f.action == "load"]
        console.print(
            f"  {counted(len(source.files), 'file')}, {len(to_load)} to load, "
            f"{format_bytes(sum(f.size for f in to_load))}",
            markup=False,
            highlight=False,
        )


def _render_source_head(console: Console, plan: RunPlan, source: SourcePlan) -> None:
    """A source's table (exists, will be created, missing), columns, and what to look at."""
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
    for alias in source.folded:
        console.print(
            f"  once: {plan.display_path(alias.path)} is {plan.display_path(alias.kept)} "
            f"({alias.reason}); loaded once, as {plan.display_path(alias.kept)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _plan_files_table(plan: RunPlan, source: SourcePlan) -> Table:
    """A source's files: path, format, size, and what a run would do with each."""
    files = Table(show_edge=False, header_style="bold", pad_edge=False)
    files.add_column("file", overflow="fold")
    for heading in ("format", "size"):
        files.add_column(heading, no_wrap=True)
    files.add_column("action", overflow="fold")
    for file in source.files:
        fmt = file.format + (f"+{file.compression}" if file.compression else "")
        action = file.action if not file.problem else f"{file.action}: {file.problem}"
        action += f" ({file.note})" if file.note else ""
        files.add_row(plan.display_path(file.path), fmt, format_bytes(file.size), action)
    return files
