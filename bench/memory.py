"""pgingest's peak RSS on the CSV part files at several data set sizes (issue #3).

Target: at most 300 MiB at 2M rows, and less than 20% more at 10M rows than at
2M (bounded queues should keep memory flat whatever the input size). Each size
is loaded --rounds times, interleaved; peak RSS is wait4's ru_maxrss of the
pgingest process (see measure.py). Run through `python bench/run.py --memory`.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict

from dataset import DataSet, DataSetSpec, default_folder
from environment import describe_environment, load_average
from generate import BENCH_OUT, ensure_generated
from loads import ChecksumReference, LoadSettings, load_once
from peers import PEERS_BY_KEY
from results import MIB, LoadRecord

DEFAULT_MEMORY_ROWS = (2_000_000, 10_000_000)
PEAK_RSS_LIMIT_MIB = 300  # issue #3, at 2M rows
MAX_GROWTH = 0.20  # issue #3: from 2M to 10M rows
PEER_KEY = "pgingest-csv"


def measure_memory(sizes: list[int], *, rounds: int, parts: int, settings: LoadSettings) -> int:
    """Load each size `rounds` times with pgingest; write memory.md and memory.json."""
    data_sets = {
        rows: DataSet(
            default_folder(BENCH_OUT, rows), DataSetSpec(rows=rows, parts=parts, formats=("csv",))
        )
        for rows in sizes
    }
    for data_set in data_sets.values():
        ensure_generated(data_set)
    load_at_start = load_average()
    peer = PEERS_BY_KEY[PEER_KEY]
    # Each size has its own rows, so each has its own checksum reference.
    references = {rows: ChecksumReference() for rows in sizes}
    records: dict[int, list[LoadRecord]] = {rows: [] for rows in sizes}
    for round_index in range(rounds):
        for rows in sizes:
            size_settings = LoadSettings(
                database_url=settings.database_url,
                workers=settings.workers,
                timeout_seconds=settings.timeout_seconds,
                out_dir=settings.out_dir / f"rows-{rows}",
            )
            record = load_once(
                peer,
                round_index=round_index,
                data_set=data_sets[rows],
                settings=size_settings,
                reference=references[rows],
            )
            records[rows].append(record)
            print(
                f"round {round_index + 1} {rows:>11,} rows {record.wall_seconds:7.2f} s"
                f" {record.peak_rss_bytes / MIB:6.0f} MiB"
                f"  {'ok' if record.is_verified else record.problem}",
                file=sys.stderr,
                flush=True,
            )
    meta = {
        **describe_environment(settings.database_url),
        "data sets": ", ".join(f"{rows:,} rows in {parts} CSV files" for rows in sizes),
        "rounds": rounds,
        "workers (N)": settings.workers,
        "load average (1 min) at start, end": f"{load_at_start}, {load_average()}",
    }
    markdown = render_memory(records, meta)
    (settings.out_dir / "memory.md").write_text(markdown)
    document = {str(rows): [asdict(r) for r in loads] for rows, loads in records.items()}
    (settings.out_dir / "memory.json").write_text(json.dumps(document, indent=2) + "\n")
    print(markdown)
    return 0 if all(r.is_verified for loads in records.values() for r in loads) else 1


def render_memory(records: dict[int, list[LoadRecord]], meta: dict[str, object]) -> str:
    """A Markdown table of peak RSS per size, and the two targets."""
    lines = [f"{key}: {value}  " for key, value in meta.items()]
    lines += [
        "",
        "| rows | loads verified | peak RSS MiB (median) | peak RSS MiB (max) | wall s (median) |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    medians: dict[int, float] = {}
    for rows, loads in records.items():
        good = [r for r in loads if r.is_verified]
        if not good:
            lines.append(f"| {rows:,} | 0/{len(loads)} | – | – | – |")
            continue
        medians[rows] = statistics.median(r.peak_rss_bytes for r in good) / MIB
        peak = max(r.peak_rss_bytes for r in good) / MIB
        wall = statistics.median(r.wall_seconds for r in good)
        lines.append(
            f"| {rows:,} | {len(good)}/{len(loads)} | {medians[rows]:,.0f} | {peak:,.0f}"
            f" | {wall:.2f} |"
        )
    lines += ["", *_memory_targets(medians)]
    return "\n".join(lines) + "\n"


def _memory_targets(medians: dict[int, float]) -> list[str]:
    lines = []
    smallest, largest = min(medians, default=None), max(medians, default=None)
    if smallest is not None:
        met = "yes" if medians[smallest] <= PEAK_RSS_LIMIT_MIB else "**no**"
        lines.append(
            f"* peak RSS at {smallest:,} rows: {medians[smallest]:,.0f} MiB"
            f" (target ≤ {PEAK_RSS_LIMIT_MIB}): {met}"
        )
    if smallest is not None and largest is not None and largest != smallest:
        growth = medians[largest] / medians[smallest] - 1
        met = "yes" if growth < MAX_GROWTH else "**no**"
        lines.append(
            f"* growth from {smallest:,} to {largest:,} rows: {growth:+.1%}"
            f" (target < {MAX_GROWTH:.0%}): {met}"
        )
    return lines
