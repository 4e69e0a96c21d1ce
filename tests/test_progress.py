"""Progress: the tally, its rates and ETA, the terminal view and the log lines, on a fake clock."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from pgingest.discover import Chunk, SourceFile
from pgingest.errors import LoadError
from pgingest.report.logs import PROGRESS_LOGGER, LogProgress, StageLogger
from pgingest.report.position import ReadPositionProbe, bytes_to_read, read_offset
from pgingest.report.progress import ESTIMATES_PER_SNAPSHOT, ProgressState, estimate_rows
from pgingest.report.reporter import CompositeReporter, NullReporter
from pgingest.report.terminal import progress_view
from pgingest.report.timeline import MAX_POINTS, Timeline

MB = 1 << 20


@pytest.fixture(autouse=True)
def _records_reach_caplog() -> Iterator[None]:
    """Undo what a CLI test left on the pgingest logger (its handler, propagate=False)."""
    root = logging.getLogger("pgingest")
    saved = (root.handlers[:], root.propagate, root.level)
    root.handlers[:], root.propagate = [], True
    yield
    root.handlers[:], root.propagate, root.level = saved[0], saved[1], saved[2]


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _file(name: str, size: int, fmt: str = "csv") -> SourceFile:
    return SourceFile(f"/data/{name}", "events", fmt, None, size, 0)  # type: ignore[arg-type]


class FakeProbe:
    """How far each file's reader is, as the test sets it."""

    def __init__(self) -> None:
        self.fractions: dict[str, float] = {}

    def __call__(self, file: SourceFile, rows: int) -> float | None:
        return self.fractions.get(file.path)


def _render(state: ProgressState, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(progress_view(state.snapshot()))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def _two_files_half_done() -> tuple[FakeClock, FakeProbe, ProgressState, SourceFile, SourceFile]:
    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe)
    big, small = _file("big.csv", 80 * MB), _file("small.csv", 20 * MB)
    state.run_started(files=2, total_bytes=100 * MB)
    state.unit_started(big)
    state.unit_started(small)
    clock.advance(10)
    state.rows_loaded(big, rows=400_000, fraction=0.0)
    probe.fractions[big.path] = 0.5
    state.unit_finished(small, rows=100_000)
    return clock, probe, state, big, small


def test_snapshot_counts_bytes_rows_and_the_eta() -> None:
    clock, _probe, state, big, _small = _two_files_half_done()
    snapshot = state.snapshot()
    assert snapshot.files_succeeded == 1
    assert snapshot.bytes_done == 20 * MB + 40 * MB  # the small file, half the big one
    assert snapshot.fraction == pytest.approx(0.6)
    assert snapshot.rows == 500_000
    assert snapshot.rows_committed == 100_000
    assert snapshot.batches == 1
    assert snapshot.rows_per_second == pytest.approx(50_000)  # 500,000 rows in 10 s
    assert snapshot.bytes_per_second == pytest.approx(6 * MB)
    assert snapshot.eta_seconds == pytest.approx(40 * MB / (6 * MB))
    assert [f.file.name for f in snapshot.active] == ["big.csv"]
    assert snapshot.active[0].fraction == pytest.approx(0.5)
    assert snapshot.active[0].seconds == pytest.approx(10)
    clock.advance(5)
    state.unit_finished(big, rows=800_000)
    done = state.snapshot()
    assert done.fraction == 1.0
    assert done.rows == 900_000
    assert not done.active


def test_rates_follow_the_recent_window() -> None:
    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe)
    file = _file("a.csv", 100 * MB)
    state.run_started(files=1, total_bytes=100 * MB)
    state.unit_started(file)
    for second in range(1, 61):  # 10 MB/s for 5 s, then 0.5 MB/s
        clock.advance(1)
        probe.fractions[file.path] = (min(second, 5) * 10 + max(second - 5, 0) * 0.5) / 100
        state.snapshot()
    snapshot = state.snapshot()
    assert snapshot.fraction == pytest.approx(0.775)
    assert snapshot.bytes_per_second == pytest.approx(0.5 * MB)
    assert snapshot.eta_seconds == pytest.approx(45)


def test_a_file_read_again_drops_its_rolled_back_rows_but_not_its_bar() -> None:
    _clock, probe, state, big, _small = _two_files_half_done()
    assert state.snapshot().active[0].fraction == pytest.approx(0.5)  # shown once
    state.unit_restarted(big, reason="carefully")
    probe.fractions.pop(big.path)  # the careful reader starts from the first byte again
    snapshot = state.snapshot()
    assert snapshot.active[0].rows == 0
    assert snapshot.active[0].restarts == 1
    assert snapshot.active[0].fraction == pytest.approx(0.5)  # bars never go back


def test_a_file_is_not_complete_before_it_commits() -> None:
    _clock, probe, state, big, _small = _two_files_half_done()
    probe.fractions[big.path] = 1.0  # read to the end, not yet committed
    assert state.snapshot().active[0].fraction == pytest.approx(0.99)


def test_failures_count_their_bytes_as_done_and_are_kept() -> None:
    _clock, _probe, state, big, _small = _two_files_half_done()
    state.unit_failed(big, LoadError("refused", path=big.path))
    snapshot = state.snapshot()
    assert snapshot.files_failed == 1
    assert snapshot.fraction == 1.0
    assert snapshot.failures == ("/data/big.csv: refused",)


def test_terminal_view_shows_overall_bar_and_a_line_per_file() -> None:
    _clock, _probe, state, _big, _small = _two_files_half_done()
    text = _render(state)
    lines = text.splitlines()
    assert "━" in lines[0]
    assert "60%" in lines[0]
    assert "60.0 MB of 100.0 MB" in lines[0]
    assert "500,000 rows" in lines[0]
    assert "50,000 rows/s" in lines[0]
    assert "6.0 MB/s" in lines[0]
    assert "ETA 6.7s" in lines[0]
    assert lines[1].startswith("1 of 2 files loaded")
    assert "0:10 elapsed" in lines[1]
    assert "big.csv" in lines[2]
    assert "50%" in lines[2]
    assert "400,000 rows" in lines[2]
    assert len(lines) == 3


def test_terminal_view_before_discovery_and_with_unknown_fractions() -> None:
    clock = FakeClock()
    state = ProgressState(clock=clock, probe=lambda file, rows: None)
    clock.advance(3)
    assert "finding files" in _render(state)
    state.run_started(files=1, total_bytes=10)
    state.unit_started(_file("x.csv", 10))
    text = _render(state)
    assert "ETA -" in text
    assert "   ?" in text.splitlines()[2]


def test_terminal_view_sums_up_files_past_the_limit() -> None:
    clock = FakeClock()
    state = ProgressState(clock=clock, probe=lambda file, rows: None)
    state.run_started(files=12, total_bytes=12)
    for index in range(12):
        state.unit_started(_file(f"f{index}.csv", 1))
    text = _render(state)
    assert "and 4 more files loading" in text
    state.unit_finished(_file("f0.csv", 1), rows=1)
    state.unit_finished(_file("f1.csv", 1), rows=1)
    state.unit_finished(_file("f2.csv", 1), rows=1)
    assert "and 1 more file loading" in _render(state)


def test_log_progress_logs_every_interval_and_failures_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe)
    lines = LogProgress(state, interval=10, clock=clock)
    reporter = CompositeReporter(state, lines)
    file = _file("a.csv", 100 * MB)
    caplog.set_level(logging.INFO, logger=PROGRESS_LOGGER)
    reporter.run_started(files=1, total_bytes=100 * MB)
    reporter.unit_started(file)
    for _ in range(25):  # 25 batches, one a second: lines at 10 s and 20 s
        clock.advance(1)
        probe.fractions[file.path] = 0.03 * (clock.now - 100)
        reporter.rows_loaded(file, rows=1000, fraction=0.0)
    progress = [r for r in caplog.records if r.name == PROGRESS_LOGGER]
    assert len(progress) == 2
    assert progress[0].getMessage().startswith("progress: 30% (30.0 MB of 100.0 MB)")
    assert "10,000 rows" in progress[0].getMessage()
    assert progress[1].figures["rows"] == 20_000  # type: ignore[attr-defined]
    reporter.unit_failed(file, LoadError("refused", path=file.path))
    failed = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in failed] == ["failed: /data/a.csv: refused"]


def test_stage_logger_logs_start_and_end_with_figures(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    logger = StageLogger(clock=clock)
    caplog.set_level(logging.INFO, logger="pgingest")
    logger.stage_started("discover")
    logger.stage_finished("discover", seconds=0.5, figures={"files": 3, "bytes": 10})
    file = _file("a.csv", 2048)
    logger.unit_started(file)
    clock.advance(2)
    logger.unit_finished(file, rows=1000)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "discover: started",
        "discover: finished in 0.5s: files 3, bytes 10",
        "/data/a.csv: loading (csv, 2.0 KB)",
        "/data/a.csv: loaded 1,000 rows in 2.0s (500 rows/s)",
    ]
    assert caplog.records[1].figures == {"files": 3, "bytes": 10}  # type: ignore[attr-defined]


def test_timeline_thins_itself_to_stay_small() -> None:
    clock = FakeClock()
    state = ProgressState(clock=clock, probe=lambda file, rows: None)
    timeline = Timeline(state, clock=clock, interval=1)
    file = _file("a.csv", 10)
    reporter = CompositeReporter(state, timeline)
    reporter.run_started(files=1, total_bytes=10)
    reporter.unit_started(file)
    for _ in range(2000):
        clock.advance(1)
        reporter.rows_loaded(file, rows=10, fraction=0.0)
    points = timeline.points()
    assert len(points) <= MAX_POINTS + 1
    assert points[-1]["rows"] == 20_000
    assert [p["seconds"] for p in points] == sorted(p["seconds"] for p in points)


def test_composite_reporter_survives_old_and_broken_reporters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class OldReporter:  # written before unit_restarted existed
        def __init__(self) -> None:
            self.finished: list[int] = []

        def unit_finished(self, file: SourceFile, *, rows: int) -> None:
            self.finished.append(rows)

    class BrokenReporter(NullReporter):
        def unit_finished(self, file: SourceFile, *, rows: int) -> None:
            raise RuntimeError("observer bug")

    old = OldReporter()
    reporter = CompositeReporter(BrokenReporter(), old, None)  # type: ignore[arg-type]
    file = _file("a.csv", 1)
    reporter.unit_restarted(file, reason="retry")
    reporter.unit_finished(file, rows=5)
    assert old.finished == [5]
    assert "reporter BrokenReporter failed on unit_finished" in caplog.text


@pytest.mark.skipif(not os.path.isdir("/proc/self/fdinfo"), reason="needs Linux /proc")
def test_read_offset_is_what_the_kernel_says(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"x" * 10_000)
    file = SourceFile(str(path), "s", "csv", None, 10_000, 0)
    probe = ReadPositionProbe(unprobed_bytes=0)
    assert probe.fraction(file, rows=0) is None  # not open
    with open(path, "rb", buffering=0) as handle:
        handle.read(2500)
        assert probe.fraction(file, rows=0) == pytest.approx(0.25)
        handle.read(2500)
        assert probe.fraction(file, rows=0) == pytest.approx(0.5)
        found = read_offset(str(path))
        assert found is not None
        assert found[0] == 5000


def test_rows_at_the_rate_of_finished_files_hold_back_a_reader_far_ahead() -> None:
    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe)
    first, second = _file("a.csv", 10 * MB), _file("b.csv", 10 * MB)
    state.run_started(files=2, total_bytes=20 * MB)
    state.unit_started(first)
    state.unit_finished(first, rows=100_000)  # 104.9 bytes a row in this source
    state.unit_started(second)
    state.rows_loaded(second, rows=30_000, fraction=0.0)
    probe.fractions[second.path] = 0.9  # pyarrow has read far ahead of the rows sent
    assert state.snapshot().active[0].fraction == pytest.approx(0.3)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fdinfo"), reason="needs Linux /proc")
def test_each_chunk_of_a_file_is_measured_by_its_own_reader(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 20_000)
    first = SourceFile(str(path), "s", "csv", None, 20_000, 0, Chunk(0, 10_000, 1, ("x",)))
    second = SourceFile(str(path), "s", "csv", None, 20_000, 0, Chunk(10_000, 20_000, 9, ("x",)))
    assert bytes_to_read(second) == 10_000
    probe = ReadPositionProbe(unprobed_bytes=0)
    with open(path, "rb", buffering=0) as one, open(path, "rb", buffering=0) as two:
        one.read(2_000)
        two.seek(10_000)
        two.read(7_000)
        assert probe.fraction(first, rows=0) == pytest.approx(0.2)
        assert probe.fraction(second, rows=0) == pytest.approx(0.7)


def test_a_file_bar_follows_its_rows_when_the_reader_runs_ahead(tmp_path: Path) -> None:
    # The first file of a source: no finished file gives bytes per row yet, so the
    # rows it holds are estimated from the line breaks of its first bytes.
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%05d,name %05d\n" % (i, i) for i in range(20_000)))
    file = SourceFile(str(path), "events", "csv", None, path.stat().st_size, 0)  # type: ignore[arg-type]
    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe)
    state.run_started(files=1, total_bytes=file.size)
    state.unit_started(file)
    state.rows_loaded(file, rows=10_000, fraction=0.0)
    probe.fractions[file.path] = 0.98  # pyarrow has read nearly all of it
    (progress,) = state.snapshot().active
    assert progress.expected_rows is not None
    assert abs(progress.expected_rows - 20_000) < 200  # estimated within 1 %
    assert progress.fraction == pytest.approx(0.5, abs=0.01)
    assert "10,000 of ~" in _render(state)
    state.rows_loaded(file, rows=9_000, fraction=0.0)
    assert state.snapshot().active[0].fraction == pytest.approx(0.95, abs=0.01)


def test_row_estimates_count_a_chunk_and_leave_other_files_alone(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"h\n" + b"0123456789\n" * 40_000)  # 11 bytes a record
    size = path.stat().st_size
    second = SourceFile(
        str(path), "s", "csv", None, size, 0, Chunk(2 + 11 * 20_000, size, 20_002, ("h",))
    )
    assert estimate_rows(second) == 20_000  # no header in a later chunk
    compressed = SourceFile(str(path), "s", "csv", "gzip", size, 0)  # type: ignore[arg-type]
    assert estimate_rows(compressed) is None
    assert estimate_rows(_file("missing.csv", 100)) is None
    assert estimate_rows(_file("data.parquet", 100, "parquet")) is None
    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe, row_estimate=lambda file: None)
    state.run_started(files=1, total_bytes=size)
    state.unit_started(second)
    state.rows_loaded(second, rows=5, fraction=0.0)
    probe.fractions[second.path] = 0.4
    (progress,) = state.snapshot().active
    assert progress.expected_rows is None
    assert progress.fraction == pytest.approx(0.4)  # bytes alone, as before
    assert "5 rows" in _render(state)


def test_a_snapshot_reads_few_files_for_row_estimates() -> None:
    # A group of small files holds up to 200 active at once (pipeline/unit/group.py):
    # a snapshot estimates a few of them, and none once a finished file of the
    # source gives its bytes per row.
    estimated: list[str] = []

    def estimate(file: SourceFile) -> int:
        estimated.append(file.path)
        return 10

    clock, probe = FakeClock(), FakeProbe()
    state = ProgressState(clock=clock, probe=probe, row_estimate=estimate)
    files = [_file(f"f{i:03d}.csv", 500) for i in range(200)]
    state.run_started(files=len(files), total_bytes=500 * len(files))
    for file in files:
        state.unit_started(file)
    state.snapshot()
    assert len(estimated) == ESTIMATES_PER_SNAPSHOT
    state.snapshot()
    assert len(estimated) == 2 * ESTIMATES_PER_SNAPSHOT
    assert len(set(estimated)) == len(estimated)  # each file is estimated once
    state.unit_finished(files[0], rows=20)
    state.snapshot()
    assert len(estimated) == 2 * ESTIMATES_PER_SNAPSHOT  # 25 bytes a row is known now
    active = {p.file.path: p for p in state.snapshot().active}
    assert active["/data/f199.csv"].expected_rows == 20  # 500 bytes at 25 bytes a row
