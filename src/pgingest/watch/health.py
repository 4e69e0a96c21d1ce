"""``--metrics-port`` for a watch: the run metrics of report/prometheus.py, plus /healthz.

The same RunCollector serves the figures of every batch the watch loaded (they
share one ProgressState and Metrics), a WatchCollector adds the watch's own
(batches, pending files, whether the database answers), and ``/healthz``
answers 200 while the database answers and 503 while it does not, for a
container's or a load balancer's health check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from pgingest.report.prometheus import Application, MetricsServer, RunCollector
from pgingest.watch.service import WatchState

__all__ = ["WatchCollector", "watch_server"]

HEALTH_PATH = "/healthz"


class WatchCollector:
    """The watch's own figures, read at each scrape."""

    def __init__(self, state: WatchState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        """The figures now."""
        figures = self._state.snapshot()
        yield CounterMetricFamily(
            "pgingest_watch_batches", "Batches of new files loaded.", value=figures["runs"]
        )
        yield GaugeMetricFamily(
            "pgingest_watch_pending_files",
            "Files seen and not loaded yet (settling or waiting).",
            value=figures["pending"],
        )
        yield GaugeMetricFamily(
            "pgingest_watch_database_up",
            "1 while the database answers, 0 while the watch waits for it.",
            value=1 if figures["database_ok"] else 0,
        )


def _with_health(metrics: Application, state: WatchState) -> Application:
    def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            return metrics(environ, start_response)
        figures = state.snapshot()
        healthy = bool(figures["database_ok"])
        status = "ok" if healthy else (figures["last_error"] or "unhealthy")
        body = json.dumps({"status": status, **figures})
        start_response(
            "200 OK" if healthy else "503 Service Unavailable",
            [("Content-Type", "application/json")],
        )
        return [body.encode()]

    return application


def watch_server(
    collector: RunCollector, state: WatchState, *, port: int, address: str
) -> MetricsServer:
    """The run metrics, the watch's own figures and /healthz on ``address:port``."""
    return MetricsServer(
        collector,
        port=port,
        address=address,
        also=[WatchCollector(state)],
        routes=lambda metrics: _with_health(metrics, state),
    )
