"""A picture of one run (``pgingest report RUN --html FILE``): one self-contained HTML page.

Time per stage, throughput over the run, rows per table, failed files and
rejected records. Styles and charts (SVG) are inline and there is no script,
so the page opens anywhere, offline, and prints as it shows.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape

from pgingest.report.charts import bar_chart, line_chart, rate_points
from pgingest.report.formatting import format_bytes, format_seconds
from pgingest.store.rejects import StoredReject
from pgingest.summary import RunReport

__all__ = ["render_run_html", "throughput_points"]


def _version() -> str:
    try:
        return importlib.metadata.version("pgingest")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "(unknown version)"


# Characters of a rejected record's raw text shown; `pgingest rejects --export` has it whole.
RAW_CHARS_SHOWN = 200

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2733;margin:0;
 background:#f5f7fa}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
section{background:#fff;border:1px solid #dfe4ea;border-radius:8px;padding:16px 20px;
 margin-bottom:16px}
.status{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.succeeded{background:#3d8b37}.failed{background:#c0392b}.running{background:#b7791f}
.muted{color:#5d6b7a}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.card{border:1px solid #e6eaef;border-radius:6px;padding:8px 12px}
.card .value{font-size:19px;font-weight:600}.card .name{color:#5d6b7a;font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #edf0f3;vertical-align:top}
th{font-size:12px;color:#5d6b7a;text-transform:uppercase;letter-spacing:.03em}
td.number{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{overflow-wrap:break-word;max-width:420px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.chart{max-width:100%;height:auto}
.chart text{font:12px system-ui,sans-serif;fill:#1d2733}
.chart .tick,.chart .legend{fill:#5d6b7a}.chart .grid{stroke:#e6eaef}
.chart .line{stroke:#2f6fb0;stroke-width:2}.chart .empty{fill:#8795a5}
"""


def throughput_points(timeline: Sequence[dict[str, float]], key: str) -> list[tuple[float, float]]:
    """Per-second rates of ``key`` (rows or bytes) between timeline samples (charts.py)."""
    return rate_points(timeline, key)


def _cards(report: RunReport) -> str:
    cards = [
        ("files loaded", f"{report.files_succeeded:,}"),
        ("files failed", f"{report.files_failed:,}"),
        ("files skipped", f"{report.files_skipped:,}"),
        ("records parsed", f"{report.records_parsed:,}"),
        ("records inserted", f"{report.records_inserted:,}"),
        ("records updated", f"{report.records_updated:,}"),
        ("records duplicates", f"{report.records_duplicates:,}"),
        ("records rejected", f"{report.records_rejected:,}"),
        ("records warned", f"{report.records_warned:,}"),
        ("records rescued", f"{report.records_rescued:,}"),
        ("bytes read", format_bytes(report.bytes_read)),
        ("rows per second", f"{report.rows_per_second:,.0f}"),
        ("MB per second", f"{report.megabytes_per_second:,.1f}"),
        ("batches", f"{report.batches:,}"),
        ("retries", ", ".join(f"{n} {kind}" for kind, n in report.retries.items()) or "0"),
        (
            "peak memory",
            format_bytes(report.peak_memory_bytes) if report.peak_memory_bytes else "-",
        ),
    ]
    return "".join(
        f'<div class="card"><div class="value">{escape(value)}</div>'
        f'<div class="name">{escape(name)}</div></div>'
        for name, value in cards
    )


def _table(table_id: str, headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of escaped cells; a heading ending in '#' marks a number column."""
    head = "".join(f"<th>{escape(h.rstrip('#'))}</th>" for h in headings)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"number" if h.endswith("#") else "wrap"}">{escape(cell)}</td>'
            for h, cell in zip(headings, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _stages(report: RunReport) -> str:
    rows = [
        (name, (busy, report.stages_wall.get(name, 0.0)))
        for name, busy in report.stages.items()
        if busy or report.stages_wall.get(name)
    ]
    if not rows:
        return '<p class="muted">No stage was timed.</p>'
    chart = bar_chart(rows, series=("busy", "wall"), unit="s", chart_id="stage-chart")
    note = (
        '<p class="muted">Busy: seconds of work summed over all threads. Wall: from the '
        "stage's first start to its last end.</p>"
    )
    return chart + note


def _throughput(report: RunReport) -> str:
    if not report.timeline:
        return '<p class="muted">This run recorded no timeline.</p>'
    rows = line_chart(
        throughput_points(report.timeline, "rows"),
        x_unit="seconds since the start",
        y_unit="rows/s",
        chart_id="throughput-chart",
    )
    megabytes = [(x, y / 2**20) for x, y in throughput_points(report.timeline, "bytes")]
    size = line_chart(
        megabytes, x_unit="seconds since the start", y_unit="MB/s", chart_id="bytes-chart"
    )
    return rows + size


def _tables(report: RunReport) -> str:
    if not report.tables:
        return '<p class="muted">No table was loaded.</p>'
    chart = bar_chart(
        [(name, (float(f.rows),)) for name, f in report.tables.items()],
        series=("rows",),
        unit="rows",
        chart_id="table-chart",
    )
    listing = _table(
        "table-list",
        ("table", "rows#", "seconds#", "rows/s#"),
        (
            (name, f"{f.rows:,}", f"{f.seconds:.2f}", f"{f.rows_per_second:,.0f}")
            for name, f in report.tables.items()
        ),
    )
    return chart + listing


def _failed(report: RunReport) -> str:
    if not report.failed_files:
        return '<p class="muted">No file failed.</p>'
    return _table(
        "failed-list",
        ("file", "stage", "error"),
        ((f.path, f.stage, f.error) for f in report.failed_files),
    )


def _shortened(text: str) -> str:
    return text if len(text) <= RAW_CHARS_SHOWN else text[: RAW_CHARS_SHOWN - 1] + "…"


def _rejects(report: RunReport, rejects: Sequence[StoredReject]) -> str:
    if not rejects:
        return '<p class="muted">No record was rejected.</p>'
    by_place = Counter((r.source, r.column or "(whole record)") for r in rejects)
    summary = _table(
        "reject-summary",
        ("file", "column", "rejects#"),
        ((path, column, f"{count:,}") for (path, column), count in by_place.most_common()),
    )
    listing = _table(
        "reject-list",
        ("file:line", "column", "value", "error", "record"),
        (
            (
                f"{r.source}:{r.line}" if r.line else r.source,
                r.column or "",
                r.value or "",
                r.error,
                _shortened(r.raw or ""),
            )
            for r in rejects
        ),
    )
    total = max(report.records_rejected, len(rejects))
    note = (
        f'<p class="muted">The first {len(rejects):,} of {total:,} rejected records; '
        "<code>pgingest rejects --run ID</code> lists them all.</p>"
        if total > len(rejects)
        else ""
    )
    return summary + "<h3>Records</h3>" + note + listing


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{body}</section>'


def render_run_html(
    report: RunReport, rejects: Sequence[StoredReject], *, database: str | None = None
) -> str:
    """The page of one run."""
    status = report.status if report.is_finished else "running"
    took = format_seconds(report.seconds) if report.is_finished else "still running or stopped"
    where = escape(report.database or database or "")
    config = escape(report.config_path or "")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    header = (
        f'<header id="summary"><h1>pgingest run <code>{escape(report.run_id)}</code></h1>'
        f'<p><span class="status {escape(status)}">{escape(status)}</span> '
        f"started {escape(report.started_at.isoformat(timespec='seconds'))}, took {escape(took)}"
        f'</p><p class="muted">database {where}<br>config {config}</p></header>'
    )
    body = "".join(
        (
            header,
            _section("figures", "Figures", f'<div class="cards">{_cards(report)}</div>'),
            _section("stages", "Time per stage", _stages(report)),
            _section("throughput", "Throughput over the run", _throughput(report)),
            _section("tables", "Rows per table", _tables(report)),
            _section("failed-files", "Failed files", _failed(report)),
            _section("rejects", "Rejected records", _rejects(report, rejects)),
        )
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pgingest run {escape(report.run_id[:8])}: {escape(status)}</title>"
        f"<style>{_STYLE}</style></head><body><main>{body}"
        f'<footer class="muted">Made by pgingest {escape(_version())} on {generated}.</footer>'
        "</main></body></html>\n"
    )
