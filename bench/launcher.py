"""Run a command and write its wall seconds and rusage as JSON: measure.py's go-between.

    python -I -S bench/launcher.py RESULT.json COMMAND [ARG...]

Why a go-between: Linux carries the RSS high-water mark of a process's old
image over exec, so a child forked straight from the benchmark (hundreds of
MiB, with pyarrow loaded) would report that as its own peak. This script is
started with -I -S and imports only the standard library's basics, so what its
child inherits is ~10 MiB, the floor of every peak RSS measured.
"""

import json
import os
import subprocess
import sys
import time

KIB = 1024  # Linux reports ru_maxrss in KiB


def main() -> int:
    """Run sys.argv[2:], wait for it with wait4, record the figures in sys.argv[1]."""
    result_path, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall_seconds = time.perf_counter() - started
    process.returncode = exit_code = os.waitstatus_to_exitcode(status)
    result = {
        "exit_code": exit_code,
        "wall_seconds": wall_seconds,
        "peak_rss_bytes": usage.ru_maxrss * KIB,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }
    with open(result_path, "w", encoding="utf-8") as result_file:
        json.dump(result, result_file)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
