"""Terminal output of what earlier runs left: the runs, each source's state, rejected records."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from pgingest.report.formatting import format_seconds
from pgingest.store.rejects import StoredReject
from pgingest.store.status import SourceStatus
from pgingest.summary import RunReport

__all__ = ["render_query", "render_rejects", "render_runs", "render_status"]

# Failed files listed under `pgingest status`; the rest are a `pgingest runs` away.
MAX_FAILED_LISTED = 20
# Characters of a run id shown: enough to be unique in any real history, and accepted back.
SHORT_RUN_ID = 8


def _local(moment: dt.datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def _table(headings: Sequence[str]) -> Table:
    """Columns headed ``name`` (text) or ``name#`` (a number, right-aligned); none collapses."""
    table = Table(show_edge=False, header_style="bold")
    for heading in headings:
        name = heading.rstrip("#")
        is_number = heading.endswith("#")
        table.add_column(
            name,
            justify="right" if is_number else "left",
            min_width=len(name),
            no_wrap=is_number,
            overflow="fold",
        )
    return table


def render_runs(console: Console, runs: Sequence[RunReport]) -> None:
    """The runs, newest first: when, how long, how it ended, and its figures."""
    if not runs:
        console.print("no runs yet", markup=False)
        return
    # parsed = inserted + updated + duplicates + rejected: upsert's columns when any run has them
    has_updates = any(r.records_updated or r.records_duplicates for r in runs)
    configs = {r.config_path for r in runs}
    headings = ["run", "started", "took#", "status", "loaded#", "failed#", "skipped#", "parsed#"]
    headings += ["inserted#", *(["updated#", "duplicates#"] if has_updates else [])]
    has_rescued = any(r.records_rescued for r in runs)  # of the rows loaded, not a fate
    headings += ["rejected#", *(["rescued#"] if has_rescued else []), "rows/s#"]
    if len(configs) > 1:
        headings.append("config")
    table = _table(headings)
    for run in runs:
        status = run.status if run.is_finished else "unfinished"
        style = {"failed": "red", "succeeded": "green"}.get(run.status, "yellow")
        cells = [
            run.run_id[:SHORT_RUN_ID],
            _local(run.started_at),
            format_seconds(run.seconds if run.is_finished else None),
            f"[{style}]{status}[/]",
            f"{run.files_succeeded:,}",
            f"{run.files_failed:,}",
            f"{run.files_skipped:,}",
            f"{run.records_parsed:,}",
            f"{run.records_inserted:,}",
            *([f"{run.records_updated:,}", f"{run.records_duplicates:,}"] if has_updates else []),
            f"{run.records_rejected:,}",
            *([f"{run.records_rescued:,}"] if has_rescued else []),
            f"{run.rows_per_second:,.0f}",
        ]
        if len(configs) > 1:
            cells.append(os.path.basename(run.config_path) if run.config_path else "")
        table.add_row(*cells)
    console.print(table)
    if any(not r.is_finished for r in runs):
        console.print(
            "unfinished: still running, or stopped before it could record its end",
            markup=False,
            style="dim",
        )


def render_status(console: Console, statuses: Sequence[SourceStatus]) -> None:
    """Per source: files loaded, changed, pending, failed and missing; rows and rejects."""
    states = ["loaded", "pending", "failed"]
    states += [s for s in ("partial", "changed", "missing") if any(x.count(s) for x in statuses)]
    table = _table(["source", "table", "files#", *(f"{s}#" for s in states), "rows#", "rejects#"])
    table.add_column("last loaded", no_wrap=True)
    for status in statuses:
        table.add_row(
            status.source,
            status.table,
            f"{len(status.files):,}",
            *(f"{status.count(state):,}" for state in states),
            f"{status.rows:,}",
            f"{status.rejects:,}",
            _local(status.last_loaded_at),
        )
    console.print(table)
    _render_status_notes(console, statuses)


def _render_status_notes(console: Console, statuses: Sequence[SourceStatus]) -> None:
    """Below the table: partial and changed files, unmatched patterns, failures and the remedy."""
    for file in [f for s in statuses for f in s.files if f.state == "partial"]:
        console.print(
            f"{file.label}: {file.path}; the next run loads the other parts",
            markup=False,
            soft_wrap=True,
        )
    if any(s.count("changed") for s in statuses):
        console.print(
            "changed: loaded before, but different on disk now; the next run checks its content",
            markup=False,
            style="dim",
        )
    for status in statuses:
        for pattern in status.unmatched_patterns:
            console.print(
                f"warning: source {status.source}: {pattern} matches no files",
                markup=False,
                style="yellow",
                soft_wrap=True,
            )
    for file in [f for s in statuses for f in s.files if f.state == "changed" and f.error]:
        console.print(f"changed: {file.error}", markup=False, style="yellow", soft_wrap=True)
    failed = [f for s in statuses for f in s.files if f.state in ("failed", "missing")]
    for file in failed[:MAX_FAILED_LISTED]:
        console.print(f"{file.state}: {file.error}", markup=False, style="red", soft_wrap=True)
    if len(failed) > MAX_FAILED_LISTED:
        console.print(f"... and {len(failed) - MAX_FAILED_LISTED} more", markup=False)
    if any(s.count("failed") for s in statuses):
        console.print(
            "fix them, then `pgingest run --retry-failed` loads just those",
            markup=False,
            highlight=False,
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


def render_query(console: Console, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A query's rows, already as text, as a table with a row count."""
    if not columns:
        return
    table = Table(show_edge=False, header_style="bold")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})", markup=False)
