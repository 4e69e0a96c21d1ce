"""Benchmark pgingest against its peers on the "events" data set (issue #3).

    python bench/run.py --rows 2000000 --rounds 3 --out bench/out/run-2m
    python bench/run.py --rows 200000 --rounds 1           # a quick smoke run
    python bench/run.py --memory                          # pgingest peak RSS, 2M vs 10M
    python bench/run.py --peers pgingest-csv,pgingest-small400,raw-copy-small400  # small files

Loads run one at a time, interleaved: every round runs every peer once, each
round starting one peer later, so drift on a noisy machine spreads over all.
Writes results.md and results.json (and each load's files under loads/) to --out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from database import DEFAULT_DATABASE_URL
from dataset import DEFAULT_PARTS, DEFAULT_ROWS, DataSet, DataSetSpec, default_folder
from environment import describe_environment, load_average
from generate import BENCH_OUT, ensure_generated
from loads import ChecksumReference, LoadSettings, load_once
from memory import DEFAULT_MEMORY_ROWS, measure_memory
from peers import BASELINE_KEY, PEERS, PEERS_BY_KEY, Peer, missing_requirement, with_baseline
from results import LoadRecord, evaluate_targets, render_markdown, results_document, summarize

DEFAULT_ROUNDS = 3  # issue #3: at least three rounds
# pgloader needs about a minute and a half for 2M rows here; ten times that is
# a hung load, not a slow one.
DEFAULT_TIMEOUT_SECONDS = 900


def rotated(peers: list[Peer], round_index: int) -> list[Peer]:
    """The round's order: the peer list started round_index places later."""
    shift = round_index % len(peers)
    return peers[shift:] + peers[:shift]


def select_peers(keys: str | None) -> list[Peer]:
    """The peers named (comma list), else all; unknown names are an error."""
    if not keys:
        return list(PEERS)
    wanted = [key.strip() for key in keys.split(",") if key.strip()]
    unknown = [key for key in wanted if key not in PEERS_BY_KEY]
    if unknown:
        known = ", ".join(PEERS_BY_KEY)
        raise SystemExit(f"unknown peer(s): {', '.join(unknown)}; known: {known}")
    return [PEERS_BY_KEY[key] for key in wanted]


def run_rounds(
    peers: list[Peer], *, rounds: int, data_set: DataSet, settings: LoadSettings
) -> tuple[list[LoadRecord], ChecksumReference]:
    """Every peer once per round, in rotating order; one load at a time."""
    reference = ChecksumReference()
    records: list[LoadRecord] = []
    for round_index in range(rounds):
        for peer in rotated(peers, round_index):
            record = load_once(
                peer,
                round_index=round_index,
                data_set=data_set,
                settings=settings,
                reference=reference,
            )
            records.append(record)
            _print_record(record)
    return records, reference


def _print_record(record: LoadRecord) -> None:
    verdict = "ok" if record.is_verified else f"NOT VERIFIED: {record.problem}"
    print(
        f"round {record.round} {record.peer:<17} {record.wall_seconds:7.2f} s"
        f" {record.peak_rss_bytes / (1 << 20):6.0f} MiB  {verdict}",
        file=sys.stderr,
        flush=True,
    )


def benchmark(arguments: argparse.Namespace, out_dir: Path) -> int:
    """Generate (if needed), load with every peer, write results.md and results.json."""
    peers = select_peers(arguments.peers)
    if arguments.baseline_src:
        peers = with_baseline(peers, arguments.baseline_src)
    for peer in peers:
        reason = missing_requirement(peer)
        if reason:
            raise SystemExit(f"peer {peer.key} cannot run: {reason}")
    data_set = DataSet(
        arguments.data_dir or default_folder(BENCH_OUT, arguments.rows),
        DataSetSpec(rows=arguments.rows, parts=arguments.files),
    )
    ensure_generated(data_set, layouts=tuple({peer.layout for peer in peers}))
    load_at_start = load_average()
    settings = LoadSettings(
        database_url=arguments.database_url,
        workers=arguments.workers,
        timeout_seconds=arguments.timeout,
        out_dir=out_dir,
    )
    records, reference = run_rounds(
        peers, rounds=arguments.rounds, data_set=data_set, settings=settings
    )
    labels = {
        peer.key: peer.label.format(
            workers=arguments.workers, files=f"{data_set.file_count(peer.layout):,}"
        )
        for peer in peers
    }
    summaries = summarize(
        records,
        labels=labels,
        rows={peer.key: data_set.rows_of(peer.layout) for peer in peers},
        files={peer.key: data_set.file_count(peer.layout) for peer in peers},
        baseline=BASELINE_KEY,
    )
    targets = evaluate_targets(summaries)
    meta = {
        **describe_environment(arguments.database_url),
        "data set": f"{arguments.rows:,} rows, {arguments.files} part files, {data_set.folder}",
        "rounds": arguments.rounds,
        "workers (N)": arguments.workers,
        "checksum reference": reference.set_by,
        "load average (1 min) at start, end": f"{load_at_start}, {load_average()}",
    }
    markdown = render_markdown(summaries, targets, meta)
    (out_dir / "results.md").write_text(markdown)
    document = results_document(records, summaries, targets, meta)
    (out_dir / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    print(markdown)
    return 0 if all(record.is_verified for record in records) else 1


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of run.py."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--files", type=int, default=DEFAULT_PARTS, help="CSV part files")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--peers", help="comma list of peer keys; default all: " + _peer_keys())
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="per load")
    parser.add_argument("--data-dir", type=Path, help="default bench/out/data/events-ROWS")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout's src/: each pgingest peer also runs on it, interleaved",
    )
    parser.add_argument("--out", type=Path, help="default bench/out/run-DATE (memory-DATE)")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="measure pgingest's peak RSS on CSV at each --memory-rows size instead",
    )
    parser.add_argument(
        "--memory-rows",
        default=",".join(str(rows) for rows in DEFAULT_MEMORY_ROWS),
        help="comma list of data set sizes for --memory",
    )
    return parser.parse_args(argv)


def _peer_keys() -> str:
    return ", ".join(PEERS_BY_KEY)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or the memory measurement) the arguments describe."""
    arguments = parse_arguments(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = "memory" if arguments.memory else "run"
    out_dir = (arguments.out or BENCH_OUT / f"{kind}-{stamp}").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if not arguments.memory:
        return benchmark(arguments, out_dir)
    sizes = [int(rows) for rows in arguments.memory_rows.split(",") if rows.strip()]
    settings = LoadSettings(
        database_url=arguments.database_url,
        workers=arguments.workers,
        timeout_seconds=arguments.timeout,
        out_dir=out_dir,
    )
    return measure_memory(sizes, rounds=arguments.rounds, parts=arguments.files, settings=settings)


if __name__ == "__main__":
    sys.exit(main())
