"""``--metrics-port`` for a watch: the run metrics of report/prometheus.py, plus /healthz.

The same RunCollector serves the figures of every batch the watch loaded (they
share one ProgressState and Metrics), a WatchCollector adds the watch's own
(batches, pending files, whether the database answers), and ``/healthz``
answers 200 while the database answers and 503 while it does not, for a
container's or a load balancer's health check.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric

from pgingest.errors import ConfigError
from pgingest.report.prometheus import RunCollector
from pgingest.watch.service import WatchState

__all__ = ["WatchCollector", "WatchServer"]

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Application = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


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


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # a scrape every few seconds is not worth a log line


def _with_health(metrics: Application, state: WatchState) -> Application:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
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


class WatchServer:
    """Serves metrics and /healthz on ``address:port`` while the context is open."""

    def __init__(
        self, collector: RunCollector, state: WatchState, *, port: int, address: str
    ) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(collector)
        self._registry.register(WatchCollector(state))
        self._state = state
        self._wanted = (address, port)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to scrape."""
        host, _ = self._wanted
        port = self._server.server_port if self._server is not None else self._wanted[1]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    def __enter__(self) -> Self:
        address, port = self._wanted
        app = _with_health(make_wsgi_app(self._registry), self._state)
        try:
            self._server = make_server(
                address, port, app, ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(
                f"cannot serve metrics on {address}:{port}: {reason}",
                hint="choose another --metrics-port (0 picks a free one) or --metrics-address",
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pgingest-metrics", daemon=True
        )
        self._thread.start()
        logger.debug("metrics at %s, health at %s", self.url, HEALTH_PATH)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
