"""`--metrics-port`: the live figures of a run, scraped over HTTP as Prometheus reads them."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from pgingest.cli import app
from pgingest.config import parse_config
from pgingest.discover import SourceFile
from pgingest.errors import ConfigError
from pgingest.pipeline import RunOptions, run
from pgingest.report.metrics import Metrics
from pgingest.report.progress import ProgressState
from pgingest.report.prometheus import MetricsServer, RunCollector
from pgingest.report.reporter import CompositeReporter, NullReporter
from tests.conftest import write_config


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_scrape_reads_progress_and_metrics_as_they_are() -> None:
    state = ProgressState(clock=lambda: 5.0, probe=lambda file, rows: None)
    metrics = Metrics(clock=lambda: 0.0)
    file = SourceFile("/data/a.csv", "events", "csv", None, 1000, 0)
    state.run_started(files=3, total_bytes=3000)
    state.unit_started(file)
    state.rows_loaded(file, rows=70, fraction=0.0)
    state.unit_finished(file, rows=70)
    metrics.record_stage("parse", 1.0, 2.5)
    metrics.add("retries.db", 2)
    metrics.add_table_rows("public.events", 70)
    with MetricsServer(RunCollector(state, metrics), port=0) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        samples = _scrape(server.url)
    assert samples[("pgingest_files_planned", ())] == 3
    assert samples[("pgingest_files_total", (("outcome", "succeeded"),))] == 1
    assert samples[("pgingest_files_total", (("outcome", "failed"),))] == 0
    assert samples[("pgingest_bytes_planned", ())] == 3000
    assert samples[("pgingest_bytes_read", ())] == 1000
    assert samples[("pgingest_rows_committed_total", ())] == 70
    assert samples[("pgingest_batches_total", ())] == 1
    assert samples[("pgingest_retries_total", (("kind", "db"),))] == 2
    assert samples[("pgingest_stage_busy_seconds_total", (("stage", "parse"),))] == 1.5
    assert samples[("pgingest_table_rows_total", (("table", "public.events"),))] == 70
    assert samples[("pgingest_peak_memory_bytes", ())] > 0


def test_a_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        collector = RunCollector(ProgressState(), Metrics())
        with pytest.raises(ConfigError, match="the port is in use") as caught:
            MetricsServer(collector, port=port).__enter__()
    assert "--metrics-port" in caught.value.describe()


class _ScrapeWhileLoading(NullReporter):
    """Scrapes the endpoint from inside the run, when the first file has landed."""

    def __init__(self) -> None:
        self.url = ""
        self.during: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        if not self.during:
            self.during = _scrape(self.url)


def test_metrics_are_live_while_a_run_loads(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    for index in range(3):
        (tmp_path / f"events-{index}.csv").write_text(f"id,name\n{index},a\n{index},b\n")
    config = parse_config(
        {
            "settings": {"workers": 1},
            "sources": [{"name": "e", "paths": ["*.csv"], "table": "events"}],
        },
        base_dir=tmp_path,
    )
    state, metrics, scraper = ProgressState(), Metrics(), _ScrapeWhileLoading()
    with MetricsServer(RunCollector(state, metrics), port=0) as server:
        scraper.url = server.url
        options = RunOptions(
            database_url=database_url, reporter=CompositeReporter(state, scraper), metrics=metrics
        )
        report = run(config, options)
        after = _scrape(server.url)
    assert report.files_succeeded == 3
    assert scraper.during[("pgingest_files_planned", ())] == 3
    assert scraper.during[("pgingest_files_total", (("outcome", "succeeded"),))] == 1
    assert after[("pgingest_files_total", (("outcome", "succeeded"),))] == 3
    assert after[("pgingest_rows_committed_total", ())] == 6
    assert after[("pgingest_table_rows_total", (("table", "public.events"),))] == 6
    assert after[("pgingest_stage_busy_seconds_total", (("stage", "copy"),))] > 0


def test_cli_serves_metrics_during_the_run(
    db: psycopg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE events (id bigint, name text)")
    (tmp_path / "events.csv").write_text("id,name\n1,a\n")
    config = write_config(
        tmp_path, {"sources": [{"name": "e", "paths": ["*.csv"], "table": "events"}]}
    )
    result = CliRunner().invoke(
        app, ["run", str(config), "--database-url", database_url, "--metrics-port", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "serving metrics at http://127.0.0.1:" in result.output
    bad = CliRunner().invoke(app, ["run", str(config), "--metrics-port", "70000"])
    assert bad.exit_code == 2
    assert "--metrics-port must be a port number" in bad.output
