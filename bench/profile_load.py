"""Profile one `pgingest run` with py-spy and say where its time goes, by function.

    python bench/profile_load.py --layout small-400 --out bench/out/profile-small
    python bench/profile_load.py --layout csv --out bench/out/profile-csv

Recreates the table (as every benchmark load does), then runs the real CLI
under `py-spy record --format raw --threads --idle`, which samples every
thread, idle ones included (a thread waiting for the server is waiting). The
raw output is a "collapsed stack" per line with its sample count; this script
sums them two ways and writes profile.md:

* **inclusive**, by pgingest function (and the third-party call it was in):
  where a worker's wall time goes, e.g. the manifest's queries, the COPY;
* **self**, by the leaf frame: what the CPU actually ran;
* **by pgingest caller**: each sample charged to the deepest pgingest frame on
  its stack, so time spent waiting in psycopg or inside pyarrow lands on the
  pgingest function that asked for it (the manifest query, the COPY, ...).

Only the load workers' threads count (threads whose stacks pass through
pgingest's unit loader), so the main thread's waiting on the workers does not
double the figures; per-file figures divide by the layout's file count.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from database import DEFAULT_DATABASE_URL, prepare_target
from dataset import DataSet, DataSetSpec, default_folder
from events import QUALIFIED_TABLE
from generate import BENCH_OUT, ensure_generated
from peers import PGINGEST

SAMPLE_RATE = 250  # samples per second: 4 ms resolution, little overhead
WORKER_MARK = "run_job"  # a frame every load worker's stack passes through (a file or a group)
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:]*)(?::(?P<line>\d+))?\)$")
TOP = 40


def frame_name(frame: str) -> str:
    """`function (module)` with the path shortened to the package-relative module."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match.group("file")
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match.group('function')} ({file})"


def read_stacks(raw: Path) -> list[tuple[list[str], int]]:
    """(frames from the root, samples) per line of py-spy's raw output."""
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def summarize(stacks: list[tuple[list[str], int]]) -> dict[str, object]:
    """Inclusive samples by pgingest function, self samples by leaf, over worker threads."""
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    callers: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in stacks:
        if not any(WORKER_MARK in frame for frame in frames):
            continue
        total += count
        seen = set()
        for frame in frames:
            if _is_pgingest(frame) and frame not in seen:
                inclusive[frame] += count
                seen.add(frame)
        leaves[frames[-1]] += count
        own = [frame for frame in frames if _is_pgingest(frame)]
        leaf = frames[-1]
        callers[f"{own[-1]} → {leaf}" if own and own[-1] != leaf else leaf] += count
    return {"total": total, "inclusive": inclusive, "self": leaves, "by pgingest caller": callers}


def _is_pgingest(frame: str) -> bool:
    return "pgingest/" in frame or "pgingest." in frame


def render(summary: dict[str, object], *, files: int, title: str) -> str:
    """The two tables as Markdown, in ms per file and share of worker time."""
    total = int(summary["total"])  # type: ignore[call-overload]
    per_file = 1000 / SAMPLE_RATE / max(files, 1)
    lines = [f"# {title}", "", f"worker samples: {total:,} ({total / SAMPLE_RATE:.1f} s)", ""]
    for name in ("inclusive", "self", "by pgingest caller"):
        counter: collections.Counter[str] = summary[name]  # type: ignore[assignment]
        lines += [f"## {name}", "", "| function | worker s | ms per file | share |"]
        lines += ["| --- | ---: | ---: | ---: |"]
        for frame, count in counter.most_common(TOP):
            share = count / total if total else 0.0
            lines.append(
                f"| `{frame}` | {count / SAMPLE_RATE:.2f} | {count * per_file:.2f} | {share:.1%} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Recreate the table, profile one load of the layout, write profile.md and the raw stacks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--layout", default="small-400", help="csv, one, small-400, small-10")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--subset", help="a glob inside a small-file layout, e.g. 'events-000???.csv' (1,000 files)"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--summarize-only", action="store_true", help="summarize --out's stacks.txt again"
    )
    arguments = parser.parse_args(argv)
    if arguments.summarize_only:
        return _write_summary(arguments, arguments.out.resolve())
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    data_set = DataSet(default_folder(BENCH_OUT, arguments.rows), DataSetSpec(rows=arguments.rows))
    ensure_generated(data_set, layouts=(arguments.layout,))
    out = arguments.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    paths = [str(path) for path in data_set.paths(arguments.layout)]
    if arguments.subset:
        paths = [str(data_set.folder / arguments.layout / arguments.subset)]
    config = {"sources": [{"name": "events", "paths": paths, "table": QUALIFIED_TABLE}]}
    (out / "data_files.json").write_text(json.dumps(config, indent=2) + "\n")
    prepare_target(arguments.database_url)
    raw = out / "stacks.txt"
    command = [
        py_spy, "record", "--format", "raw", "--threads", "--idle", "--rate", str(SAMPLE_RATE),
        "--output", str(raw), "--",
        PGINGEST, "run", str(out / "data_files.json"), "--database-url", arguments.database_url,
        "--workers", str(arguments.workers), "--connections", str(arguments.workers),
        "--report", str(out / "report.json"), "--no-progress",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return _write_summary(arguments, out)


def _write_summary(arguments: argparse.Namespace, out: Path) -> int:
    data_set = DataSet(default_folder(BENCH_OUT, arguments.rows), DataSetSpec(rows=arguments.rows))
    summary = summarize(read_stacks(out / "stacks.txt"))
    files = data_set.file_count(arguments.layout)
    if arguments.subset:
        files = len(list((data_set.folder / arguments.layout).glob(arguments.subset)))
    title = f"pgingest run, {arguments.layout}, {files:,} files"
    markdown = render(summary, files=files, title=title)
    (out / "profile.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
