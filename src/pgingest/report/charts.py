"""Small SVG charts, drawn as text: no script, no font or library to fetch, prints as shown."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["bar_chart", "line_chart", "nice_ceiling", "rate_points"]

# A sample taken sooner than this share of the run's usual interval after the
# one before is merged into that interval. The timeline's last sample is taken
# when the run ends, often milliseconds after the one before, and the commit
# of the last file lands its bytes at once: a rate over those milliseconds
# drew a spike many times the real throughput at the end of every chart.
MIN_INTERVAL_SHARE = 0.5

BAR_HEIGHT = 18
BAR_GAP = 8
LABEL_WIDTH = 170
VALUE_WIDTH = 110
CHART_WIDTH = 720
PALETTE = ("#2f6fb0", "#9cc3e6", "#d9822b", "#5a9e4b")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5):
        if step * power >= value:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    """Whole numbers with thousands separators; small ones to three significant digits."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    series: Sequence[str],
    unit: str,
    chart_id: str,
) -> str:
    """Horizontal bars: one group per row, one bar per series, each labelled with its value."""
    top = 24
    group = len(series) * BAR_HEIGHT + BAR_GAP
    height = top + max(len(rows), 1) * group + 8
    scale = max((v for _, values in rows for v in values), default=0.0)
    room = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {CHART_WIDTH} '
        f'{height}" width="{CHART_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, name in enumerate(series):
        x = LABEL_WIDTH + index * 140
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x + 18}" y="14" class="legend">{escape(name)}</text>')
    for row_index, (label, values) in enumerate(rows):
        y = top + row_index * group
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 5}" text-anchor="end" '
            f'class="label">{escape(label)}</text>'
        )
        for index, value in enumerate(values):
            width = room * value / scale if scale > 0 else 0.0
            bar_y = y + index * BAR_HEIGHT
            color = PALETTE[index % len(PALETTE)]
            parts.append(
                f'<rect class="bar" x="{LABEL_WIDTH}" y="{bar_y + 2}" width="{width:.1f}" '
                f'height="{BAR_HEIGHT - 4}" fill="{color}"><title>{escape(label)} '
                f"{escape(series[index])}: {_number(value)} {escape(unit)}</title></rect>"
            )
            parts.append(
                f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{bar_y + BAR_HEIGHT - 5}" '
                f'class="value">{_number(value)} {escape(unit)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    points: Sequence[tuple[float, float]],
    *,
    x_unit: str,
    y_unit: str,
    chart_id: str,
    height: int = 220,
) -> str:
    """A line over time with a labelled axis each way; an empty chart says so."""
    left, right, top, bottom = 80, 20, 12, 34
    plot_width = CHART_WIDTH - left - right
    plot_height = height - top - bottom
    x_max = nice_ceiling(max((x for x, _ in points), default=0.0))
    y_max = nice_ceiling(max((y for _, y in points), default=0.0))
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {CHART_WIDTH} '
        f'{height}" width="{CHART_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in range(5):
        fraction = tick / 4
        y = top + plot_height * (1 - fraction)
        x = left + plot_width * fraction
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_number(y_max * fraction)}</text>"
        )
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="tick">'
            f"{_number(x_max * fraction)}</text>"
        )
    parts.append(
        f'<text x="{left + plot_width / 2:.1f}" y="{height - 4}" text-anchor="middle" '
        f'class="axis">{escape(x_unit)}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + plot_height / 2:.1f}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 14 {top + plot_height / 2:.1f})">{escape(y_unit)}</text>'
    )
    if len(points) < 2:
        parts.append(
            f'<text x="{left + plot_width / 2:.1f}" y="{top + plot_height / 2:.1f}" '
            'text-anchor="middle" class="empty">too short a run to draw</text>'
        )
    else:
        coordinates = " ".join(
            f"{left + plot_width * x / x_max:.1f},{top + plot_height * (1 - y / y_max):.1f}"
            for x, y in points
        )
        parts.append(f'<polyline class="line" fill="none" points="{coordinates}"/>')
    parts.append("</svg>")
    return "".join(parts)


def rate_points(samples: Sequence[Mapping[str, float]], key: str) -> list[tuple[float, float]]:
    """Per-second rates of ``key`` (rows or bytes) between samples, at each sample.

    Samples are ``{"seconds": ..., key: ...}``, in time order. An interval
    shorter than MIN_INTERVAL_SHARE of the median one is merged into the one
    before it, so each rate spans about the usual interval.
    """
    spans = [
        float(after["seconds"]) - float(before["seconds"])
        for before, after in itertools.pairwise(samples)
        if float(after["seconds"]) > float(before["seconds"])
    ]
    if not spans:
        return []
    shortest = MIN_INTERVAL_SHARE * statistics.median(spans)
    kept = [samples[0]]
    for sample in samples[1:]:
        span = float(sample["seconds"]) - float(kept[-1]["seconds"])
        if span <= 0:
            continue
        if span < shortest and len(kept) > 1:
            kept[-1] = sample  # the interval before now ends here
        else:
            kept.append(sample)
    points = [
        (
            float(after["seconds"]),
            max(float(after[key]) - float(before[key]), 0.0)
            / (float(after["seconds"]) - float(before["seconds"])),
        )
        for before, after in itertools.pairwise(kept)
    ]
    return [(float(kept[0]["seconds"]), points[0][1]), *points]
