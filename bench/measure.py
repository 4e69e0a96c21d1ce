"""Run one load command as a child process: wall seconds, peak RSS, CPU seconds.

Peak RSS is `ru_maxrss` from `os.wait4` on the load's process: the kernel's own
high-water mark of resident memory, exact rather than sampled, for the process
and every descendant it waited for (the largest single process, not a sum).
Every peer here loads from a single process (threads inside it), and psql's
`\\copy`s run in one psql process, so that is the loading process's peak. The
command is started by launcher.py, a small go-between, so the benchmark's own
memory is not inherited into the figure (see launcher.py). The PostgreSQL
server's memory is not counted for anyone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
LOG_TAIL_CHARACTERS = 2000


@dataclass(frozen=True, kw_only=True)
class ProcessMeasure:
    """What one finished (or killed) child process cost."""

    exit_code: int
    wall_seconds: float
    peak_rss_bytes: int
    cpu_seconds: float
    is_timed_out: bool
    log_tail: str


def run_measured(
    command: Sequence[str], *, log_path: Path, timeout_seconds: float
) -> ProcessMeasure:
    """Run command with stdout and stderr to log_path; kill its process group on timeout."""
    result_path = log_path.with_name(log_path.stem + ".measure.json")
    result_path.unlink(missing_ok=True)
    launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(result_path), *command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            launcher, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it finished just now
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return _timed_out(timeout_seconds, log_path)
    if not result_path.exists():  # the launcher itself failed
        return _failed(process.returncode, log_path)
    figures = json.loads(result_path.read_text())
    return ProcessMeasure(**figures, is_timed_out=False, log_tail=_tail(log_path))


def _timed_out(timeout_seconds: float, log_path: Path) -> ProcessMeasure:
    return ProcessMeasure(
        exit_code=-int(signal.SIGKILL),
        wall_seconds=timeout_seconds,
        peak_rss_bytes=0,
        cpu_seconds=0.0,
        is_timed_out=True,
        log_tail=_tail(log_path),
    )


def _failed(exit_code: int, log_path: Path) -> ProcessMeasure:
    return ProcessMeasure(
        exit_code=exit_code or 1,
        wall_seconds=0.0,
        peak_rss_bytes=0,
        cpu_seconds=0.0,
        is_timed_out=False,
        log_tail=_tail(log_path),
    )


def _tail(path: Path) -> str:
    text = path.read_bytes()[-LOG_TAIL_CHARACTERS * 4 :].decode("utf-8", errors="replace")
    return text[-LOG_TAIL_CHARACTERS:]
