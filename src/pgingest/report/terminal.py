"""Progress on a terminal: an overall bar, a line per file loading, failures as they happen."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from pgingest.discover import SourceFile
from pgingest.errors import PgIngestError
from pgingest.report.formatting import counted, format_bytes, format_rate, format_seconds
from pgingest.report.progress import FileProgress, ProgressSnapshot, ProgressState
from pgingest.report.reporter import NullReporter

__all__ = ["TerminalProgress", "progress_view"]

# Redraws per second: smooth enough to read, cheap enough not to show in a profile.
REFRESH_PER_SECOND = 4
# At most this many per-file lines; more files loading at once are summed up in one line.
MAX_FILE_LINES = 8
OVERALL_BAR_WIDTH = 30
FILE_BAR_WIDTH = 20


def _overall_line(snapshot: ProgressSnapshot) -> Table:
    line = Table.grid(padding=(0, 1))
    line.add_column(no_wrap=True)
    line.add_column(no_wrap=True)
    if not snapshot.is_started:
        line.add_row("[bold]finding files[/]", f"{format_seconds(snapshot.elapsed)} elapsed")
        return line
    bar = ProgressBar(total=1.0, completed=snapshot.fraction, width=OVERALL_BAR_WIDTH)
    figures = (
        f"{snapshot.fraction:4.0%}  {format_bytes(snapshot.bytes_done)} of "
        f"{format_bytes(snapshot.bytes_total)}  {counted(snapshot.rows, 'row')}  "
        f"{format_rate(snapshot.rows_per_second, 'rows')}  "
        f"{format_rate(snapshot.bytes_per_second, 'bytes')}  "
        f"ETA {format_seconds(snapshot.eta_seconds)}"
    )
    line.add_row(bar, Text(figures))
    return line


def _files_line(snapshot: ProgressSnapshot) -> Text:
    text = Text(f"{snapshot.files_succeeded} of {counted(snapshot.files_total, 'file')} loaded")
    if snapshot.files_failed:
        text.append(f", {snapshot.files_failed} failed", style="red")
    if snapshot.files_skipped:
        text.append(f", {snapshot.files_skipped} skipped")
    text.append(f"  {format_seconds(snapshot.elapsed)} elapsed", style="dim")
    return text


def _name(progress: FileProgress) -> str:
    chunk = progress.file.chunk
    if chunk is None:
        return progress.file.name
    return f"{progress.file.name} @{chunk.start / 2**20:,.0f} MB"


def _rows(progress: FileProgress) -> str:
    """``1,200 of ~2,400 rows`` (the file's rows estimated), or ``1,200 rows``."""
    if progress.expected_rows is None:
        return counted(progress.rows, "row")
    return f"{progress.rows:,} of ~{max(progress.expected_rows, progress.rows):,} rows"


def _file_row(progress: FileProgress) -> tuple[RenderableType, ...]:
    fraction = progress.fraction
    bar = ProgressBar(
        total=1.0 if fraction is not None else None,
        completed=fraction or 0.0,
        width=FILE_BAR_WIDTH,
    )
    percent = f"{fraction:4.0%}" if fraction is not None else "   ?"
    note = " (read again)" if progress.restarts else ""
    return (
        Text("  " + _name(progress), overflow="ellipsis", no_wrap=True),
        bar,
        Text(f"{percent}  {_rows(progress)}  {format_seconds(progress.seconds)}{note}"),
    )


def progress_view(snapshot: ProgressSnapshot) -> RenderableType:
    """What the terminal shows for a snapshot (a pure function: tests render it)."""
    if not snapshot.is_started:
        return _overall_line(snapshot)
    parts: list[RenderableType] = [_overall_line(snapshot), _files_line(snapshot)]
    if snapshot.active:
        files = Table.grid(padding=(0, 1))
        files.add_column(max_width=40, no_wrap=True)
        files.add_column(no_wrap=True)
        files.add_column(no_wrap=True)
        for progress in snapshot.active[:MAX_FILE_LINES]:
            files.add_row(*_file_row(progress))
        hidden = len(snapshot.active) - MAX_FILE_LINES
        if hidden > 0:
            more = f"  and {hidden} more {'file' if hidden == 1 else 'files'} loading"
            files.add_row(Text(more, style="dim"), "", "")
        parts.append(files)
    return Group(*parts)


class _LiveView:
    """Whatever the state says at each redraw."""

    def __init__(self, state: ProgressState) -> None:
        self._state = state

    def __rich__(self) -> RenderableType:
        return progress_view(self._state.snapshot())


class TerminalProgress(NullReporter):
    """Draws a ProgressState on ``console`` while a run goes; use it as a context.

    It reads the state and reacts only to failures: pass it to the run after
    the state, ``CompositeReporter(state, TerminalProgress(state, console))``.
    """

    def __init__(self, state: ProgressState, console: Console) -> None:
        self._state = state
        self._console = console
        self._live = Live(
            _LiveView(state),
            console=console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,  # log lines print above the bars, not through them
        )

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._live.stop()

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """Printed at once, above the bars."""
        self._live.console.print(
            Text.assemble(("failed: ", "bold red"), error.describe()), soft_wrap=True
        )
