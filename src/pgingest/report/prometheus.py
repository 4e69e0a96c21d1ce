"""The live figures of a run over HTTP for Prometheus (``pgingest run --metrics-port``).

Every scrape reads the run's ProgressState and Metrics afresh (a custom
collector on a registry of its own, never prometheus_client's global one), so
nothing is copied while the load goes. The server listens on 127.0.0.1 unless
told otherwise: exposing a port to the network is the user's decision.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric

from pgingest.errors import ConfigError
from pgingest.report.metrics import Metrics, MetricsSnapshot, peak_memory_bytes
from pgingest.report.progress import ProgressSnapshot, ProgressState
from pgingest.summary import RETRY_KINDS, STAGES

__all__ = ["DEFAULT_METRICS_ADDRESS", "Application", "MetricsServer", "RunCollector"]

logger = logging.getLogger(__name__)

DEFAULT_METRICS_ADDRESS = "127.0.0.1"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Application = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Collector(Protocol):
    """What a registry collects from: figures read afresh at each scrape."""

    def collect(self) -> Iterator[Metric]: ...


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # a scrape every few seconds is not worth a log line


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"pgingest_{name}", text, value=value)


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"pgingest_{name}", text, value=value)


class RunCollector:
    """Turns a run's progress and metrics into Prometheus metric families at each scrape."""

    def __init__(self, state: ProgressState, metrics: Metrics) -> None:
        self._state = state
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """The figures now."""
        yield from _progress_families(self._state.snapshot())
        yield from _figure_families(self._metrics.snapshot())
        yield _gauge(
            "peak_memory_bytes", "Peak resident memory of the process.", peak_memory_bytes()
        )


def _progress_families(progress: ProgressSnapshot) -> Iterator[Metric]:
    """Files, bytes, rows and rates as the run's progress has them."""
    yield _gauge("files_planned", "Files this run will load.", progress.files_total)
    files = CounterMetricFamily(
        "pgingest_files", "Files that finished, by outcome.", labels=["outcome"]
    )
    files.add_metric(["succeeded"], progress.files_succeeded)
    files.add_metric(["failed"], progress.files_failed)
    files.add_metric(["skipped"], progress.files_skipped)
    yield files
    yield _gauge("files_active", "Files loading now.", len(progress.active))
    yield _gauge("bytes_planned", "Bytes of the files this run will load.", progress.bytes_total)
    yield _gauge("bytes_read", "Bytes of those files read so far.", progress.bytes_done)
    yield _counter("rows_committed", "Rows of files that committed.", progress.rows_committed)
    yield _gauge(
        "rows_in_flight",
        "Rows sent by files still loading (rolled back if the file fails).",
        progress.rows - progress.rows_committed,
    )
    yield _counter("batches", "Batches sent to the server.", progress.batches)
    yield _gauge("rows_per_second", "Recent throughput in rows.", progress.rows_per_second)
    yield _gauge("bytes_per_second", "Recent throughput in bytes.", progress.bytes_per_second)
    eta = progress.eta_seconds
    yield _gauge("eta_seconds", "Seconds left at the recent rate (-1: unknown).", eta or -1.0)
    yield _gauge("elapsed_seconds", "Seconds since the run started.", progress.elapsed)


def _figure_families(figures: MetricsSnapshot) -> Iterator[Metric]:
    """Retries, time per stage and rows per table as the run's metrics count them."""
    retries = CounterMetricFamily("pgingest_retries", "Retries by kind.", labels=["kind"])
    for kind in RETRY_KINDS:
        retries.add_metric([kind], figures.count(f"retries.{kind}"))
    yield retries
    busy = CounterMetricFamily(
        "pgingest_stage_busy_seconds",
        "Seconds spent in each stage, summed over threads.",
        labels=["stage"],
    )
    wall = GaugeMetricFamily(
        "pgingest_stage_wall_seconds",
        "Seconds from a stage's first start to its last end.",
        labels=["stage"],
    )
    for stage in STAGES:
        busy.add_metric([stage], figures.stage_busy.get(stage, 0.0))
        wall.add_metric([stage], figures.stage_wall.get(stage, 0.0))
    yield busy
    yield wall
    tables = CounterMetricFamily(
        "pgingest_table_rows", "Rows that landed, by table.", labels=["table"]
    )
    for table, rows in sorted(figures.table_rows.items()):
        tables.add_metric([table], rows)
    yield tables


class MetricsServer:
    """Serves a RunCollector on ``address:port`` while the context is open (port 0: any free)."""

    def __init__(
        self,
        collector: RunCollector,
        *,
        port: int,
        address: str = DEFAULT_METRICS_ADDRESS,
        also: Sequence[Collector] = (),
        routes: Callable[[Application], Application] | None = None,
    ) -> None:
        """``also``: more collectors on the same page; ``routes`` wraps the metrics
        application to answer other paths (the watch's /healthz)."""
        self._registry = CollectorRegistry(auto_describe=False)
        for each in (collector, *also):
            self._registry.register(each)
        self._routes = routes
        self._wanted = (address, port)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose, for port 0)."""
        if self._server is None:
            raise RuntimeError("the metrics server is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """Where to scrape."""
        host = self._wanted[0]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/metrics"

    def __enter__(self) -> Self:
        address, port = self._wanted
        app: Application = make_wsgi_app(self._registry)
        if self._routes is not None:
            app = self._routes(app)
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
        logger.info("serving metrics at %s", self.url)
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
