"""Loads measured, their medians per peer, the issue #3 targets, as Markdown and JSON.

Only verified loads (exit status 0, the expected row count, the reference
checksum) count towards a peer's medians; a peer with none shows no figures.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1 << 20
SMALL_FILES_PER_HOUR = 1_000_000  # issue 12: 20,000 files of 10 rows at a million files/hour


@dataclass(frozen=True, kw_only=True)
class LoadRecord:
    """One timed load of one peer in one round, and what it left in the table."""

    round: int
    peer: str
    exit_code: int
    wall_seconds: float
    peak_rss_bytes: int
    cpu_seconds: float
    rows: int
    checksum: str
    is_verified: bool
    problem: str | None = None


@dataclass(frozen=True, kw_only=True)
class PeerSummary:
    """Medians over a peer's verified loads."""

    peer: str
    label: str
    loads: int
    verified: int
    wall_seconds: float | None
    rows_per_second: float | None
    speed_vs_baseline: float | None  # peer rows/s ÷ pgingest CSV (8 files) rows/s
    files_per_hour: float | None
    peak_rss_mib: float | None
    cpu_seconds: float | None
    round_walls: list[float] = field(default_factory=list)  # verified loads, in round order
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Target:
    """One issue #3 target: a ratio of two peers' speeds against a threshold."""

    name: str
    measured: float | None
    threshold: float
    is_met: bool | None  # None: a side of the ratio has no verified load


def summarize(
    records: list[LoadRecord],
    *,
    labels: dict[str, str],
    rows: dict[str, int],
    files: dict[str, int],
    baseline: str,
) -> list[PeerSummary]:
    """One summary per peer, in the order of labels; rows and files: what each peer read."""
    medians = {peer: _median_wall(records, peer) for peer in labels}
    baseline_speed = _speed(rows.get(baseline), medians.get(baseline))
    return [
        _summary(
            peer,
            label,
            records,
            rows=rows[peer],
            files=files[peer],
            wall=medians[peer],
            baseline_speed=baseline_speed,
        )
        for peer, label in labels.items()
    ]


def _speed(rows: int | None, wall: float | None) -> float | None:
    return rows / wall if rows and wall else None


def _median_wall(records: list[LoadRecord], peer: str) -> float | None:
    walls = [r.wall_seconds for r in records if r.peer == peer and r.is_verified]
    return statistics.median(walls) if walls else None


def _summary(
    peer: str,
    label: str,
    records: list[LoadRecord],
    *,
    rows: int,
    files: int,
    wall: float | None,
    baseline_speed: float | None,
) -> PeerSummary:
    mine = [r for r in records if r.peer == peer]
    good = [r for r in mine if r.is_verified]
    speed = _speed(rows, wall)
    return PeerSummary(
        peer=peer,
        label=label,
        loads=len(mine),
        verified=len(good),
        wall_seconds=wall,
        rows_per_second=speed,
        speed_vs_baseline=speed / baseline_speed if speed and baseline_speed else None,
        files_per_hour=files * 3600 / wall if wall else None,
        peak_rss_mib=statistics.median(r.peak_rss_bytes for r in good) / MIB if good else None,
        cpu_seconds=statistics.median(r.cpu_seconds for r in good) if good else None,
        round_walls=[r.wall_seconds for r in sorted(good, key=lambda r: r.round)],
        problems=sorted({r.problem for r in mine if r.problem}),
    )


def evaluate_targets(summaries: list[PeerSummary]) -> list[Target]:
    """The issue #3 targets that this run's peers can answer."""
    by_peer = {summary.peer: summary for summary in summaries}

    def speed_ratio(name: str, faster: str, slower: str, threshold: float) -> Target | None:
        if faster not in by_peer or slower not in by_peer:
            return None
        mine, theirs = by_peer[faster].rows_per_second, by_peer[slower].rows_per_second
        measured = mine / theirs if mine and theirs else None
        met = None if measured is None else measured >= threshold
        return Target(name=name, measured=measured, threshold=threshold, is_met=met)

    candidates = [
        speed_ratio("pgingest CSV (8 files) ÷ raw parallel COPY", "pgingest-csv", "raw-copy", 1.0),
        speed_ratio("pgingest CSV (8 files) ÷ pgloader", "pgingest-csv", "pgloader", 10.0),
        speed_ratio("pgingest Parquet ÷ DuckDB Parquet", "pgingest-parquet", "duckdb-parquet", 1.0),
        speed_ratio(
            "pgingest CSV (1 file) ÷ raw parallel COPY", "pgingest-one-csv", "raw-copy", 0.9
        ),
        # Issue 12: small files as fast as big ones, and ahead of DuckDB on the same glob.
        speed_ratio(
            "pgingest 400-row files ÷ pgingest 8 files (rows/s)",
            "pgingest-small400",
            "pgingest-csv",
            0.8,
        ),
        speed_ratio(
            "pgingest 400-row files ÷ DuckDB read_csv(glob)",
            "pgingest-small400",
            "duckdb-csv-small400",
            2.0,
        ),
    ]
    targets = [target for target in candidates if target is not None]
    if "pgingest-csv" in by_peer:
        peak = by_peer["pgingest-csv"].peak_rss_mib
        met = None if peak is None else peak <= 300
        targets.append(
            Target(name="pgingest CSV peak RSS (MiB, ≤)", measured=peak, threshold=300, is_met=met)
        )
    if "pgingest-small10" in by_peer:
        per_hour = by_peer["pgingest-small10"].files_per_hour
        met = None if per_hour is None else per_hour >= SMALL_FILES_PER_HOUR
        targets.append(
            Target(
                name="pgingest 10-row files per hour",
                measured=per_hour,
                threshold=SMALL_FILES_PER_HOUR,
                is_met=met,
            )
        )
    return targets


def render_markdown(
    summaries: list[PeerSummary], targets: list[Target], meta: dict[str, Any]
) -> str:
    """The results as the Markdown that bench/README.md quotes."""
    lines = [f"{key}: {value}  " for key, value in meta.items()]
    lines += [
        "",
        "| peer | wall s (median) | rows/s | speed vs pgingest CSV | files/hour | peak RSS MiB "
        "| client CPU s | verified | wall s, each round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    lines += [_summary_row(summary) for summary in summaries]
    if targets:
        lines += ["", "| target | measured | threshold | met |", "| --- | ---: | ---: | --- |"]
        lines += [_target_row(target) for target in targets]
    problems = [f"* {s.peer}: {problem}" for s in summaries for problem in s.problems]
    if problems:
        lines += ["", "Problems:", "", *problems]
    return "\n".join(lines) + "\n"


def _summary_row(summary: PeerSummary) -> str:
    cells = [
        summary.label,
        _number(summary.wall_seconds, "{:.2f}"),
        _number(summary.rows_per_second, "{:,.0f}"),
        _number(summary.speed_vs_baseline, "{:.2f}×"),
        _number(summary.files_per_hour, "{:,.0f}"),
        _number(summary.peak_rss_mib, "{:,.0f}"),
        _number(summary.cpu_seconds, "{:.1f}"),
        f"{summary.verified}/{summary.loads}",
        " / ".join(f"{wall:.2f}" for wall in summary.round_walls) or "–",
    ]
    return "| " + " | ".join(cells) + " |"


def _target_row(target: Target) -> str:
    met = {True: "yes", False: "**no**", None: "n/a"}[target.is_met]
    pattern = "{:,.0f}" if target.threshold >= 1000 else "{:.2f}"
    measured = _number(target.measured, pattern)
    threshold = _number(target.threshold, pattern)
    return f"| {target.name} | {measured} | {threshold} | {met} |"


def _number(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def results_document(
    records: list[LoadRecord],
    summaries: list[PeerSummary],
    targets: list[Target],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Everything measured, for results.json."""
    return {
        "meta": meta,
        "peers": [asdict(summary) for summary in summaries],
        "targets": [asdict(target) for target in targets],
        "loads": [asdict(record) for record in records],
    }
