"""The HTML report's throughput chart: rates between timeline samples, without an end spike."""

from __future__ import annotations

from pgingest.discover import SourceFile
from pgingest.report.charts import line_chart, rate_points
from pgingest.report.progress import ProgressState
from pgingest.report.reporter import CompositeReporter
from pgingest.report.timeline import Timeline

MB = 1 << 20


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _timeline_of_a_steady_run() -> list[dict[str, float]]:
    """A 100 MB file read at 10 MB/s, sampled each second; it commits 5 ms after the last sample.

    The read offset runs behind the bytes the file holds (its last block is
    still being sent when it commits), so its last bytes count at the commit.
    """
    clock = FakeClock()
    fractions: dict[str, float] = {}
    state = ProgressState(clock=clock, probe=lambda file, rows: fractions.get(file.path))
    timeline = Timeline(state, clock=clock, interval=1.0)
    reporter = CompositeReporter(state, timeline)
    file = SourceFile("/data/a.csv", "events", "csv", None, 100 * MB, 0)  # type: ignore[arg-type]
    reporter.run_started(files=1, total_bytes=100 * MB)
    reporter.unit_started(file)
    for second in range(1, 11):
        clock.now += 1.0
        fractions[file.path] = second / 10 - 0.05
        reporter.rows_loaded(file, rows=100_000, fraction=0.0)
    clock.now += 0.005
    reporter.unit_finished(file, rows=1_000_000)
    clock.now += 0.005
    return timeline.points()


def test_the_last_short_interval_draws_no_spike() -> None:
    points = _timeline_of_a_steady_run()
    assert points[-1]["seconds"] - points[-2]["seconds"] < 0.05  # the cause: a short last step
    steady = 10 * MB
    # Rates taken sample to sample, the old way, spike at the end:
    naive = (points[-1]["bytes"] - points[-2]["bytes"]) / (
        points[-1]["seconds"] - points[-2]["seconds"]
    )
    assert naive > 5 * steady
    rates = [rate for _, rate in rate_points(points, "bytes")]
    assert max(rates) < 1.6 * steady
    assert rate_points(points, "bytes")[-1][0] == points[-1]["seconds"]  # it still ends at the end
    rows = [rate for _, rate in rate_points(points, "rows")]
    assert max(rows) < 1.6 * 100_000


def test_regular_samples_keep_every_interval() -> None:
    samples = [
        {"seconds": 0.0, "rows": 0},
        {"seconds": 2.0, "rows": 1000},
        {"seconds": 3.0, "rows": 1500},
        {"seconds": 4.0, "rows": 1500},
    ]
    assert rate_points(samples, "rows") == [(0.0, 500.0), (2.0, 500.0), (3.0, 500.0), (4.0, 0.0)]
    assert rate_points(samples[:1], "rows") == []


def test_the_chart_draws_the_rates() -> None:
    svg = line_chart(
        rate_points(_timeline_of_a_steady_run(), "bytes"),
        x_unit="seconds",
        y_unit="MB/s",
        chart_id="c",
    )
    assert "<polyline" in svg
