"""The ``pgingest watch`` command: the watch service with logging, metrics and signals.

SIGTERM and SIGINT end the watch: the batch in flight finishes if it can within
STOP_GRACE_SECONDS (a second signal cuts that short), else it is interrupted (its
units roll back; the manifest never records what did not land), and the process
exits 0 within HARD_EXIT_SECONDS whatever a worker thread is doing.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from pgingest.cli_shared import (
    DEFAULT_CONFIG,
    EXIT_OK,
    ConfigArgument,
    DatabaseOption,
    LogFormatOption,
    VerboseOption,
    fail_usage,
    guarded,
    load,
    positive,
    stderr,
)

if TYPE_CHECKING:
    from pgingest.config import Config
    from pgingest.watch import WatchService

__all__ = ["watch_command"]

# A stop waits this long for the batch in flight to commit before rolling it back...
STOP_GRACE_SECONDS = 6.0
# ...and the process is gone by this long after the signal (a service manager's
# stop timeout is commonly 10 s; every unit is one transaction, so a hard exit loses nothing).
HARD_EXIT_SECONDS = 9.0
WATCH_LOGGER = "pgingest.watch"  # watch/service.py logs each loaded file on it
DEFAULT_METRICS_ADDRESS = "127.0.0.1"


class _Stopper:
    """Turns SIGTERM/SIGINT into an orderly stop, then a rollback, then an exit."""

    def __init__(self, service: WatchService) -> None:
        self._service = service
        self._signalled = False
        self._interrupt = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self._interrupt:
            self._interrupt = False
            raise KeyboardInterrupt  # the grace is over: roll the batch in flight back
        if self._signalled:
            if self._service.is_loading:  # asked twice: roll back now rather than wait
                raise KeyboardInterrupt
            return
        self._signalled = True
        logging.getLogger(WATCH_LOGGER).warning(
            "%s: stopping after the batch in flight", signal.Signals(signum).name
        )
        self._service.stop()
        threading.Thread(target=self._deadlines, name="pgingest-stop", daemon=True).start()

    def _deadlines(self) -> None:
        time.sleep(STOP_GRACE_SECONDS)
        if self._service.is_loading:
            self._interrupt = True
            _thread.interrupt_main(signal.SIGINT)
        time.sleep(HARD_EXIT_SECONDS - STOP_GRACE_SECONDS)
        logging.getLogger(WATCH_LOGGER).warning("stopped: exiting now; nothing half-loaded remains")
        for handler in logging.getLogger("pgingest").handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)


def _configure(
    config: Path,
    *,
    sizes: tuple[int | None, int | None, int | None],
    max_rejects: int | None,
    max_reject_ratio: float | None,
    retry: tuple[int | None, int | None, float | None],
) -> Config:
    workers, connections, batch_size = sizes
    if max_rejects is not None and max_rejects < 0:
        fail_usage(f"--max-rejects must be 0 or more, got {max_rejects}")
    if max_reject_ratio is not None and not 0 <= max_reject_ratio <= 1:
        fail_usage(f"--max-reject-ratio must be between 0 and 1, got {max_reject_ratio}")
    file_attempts, db_attempts, deadline = retry
    return (
        load(config)
        .with_settings(
            workers=positive("--workers", workers),
            connections=positive("--connections", connections),
            batch_size=positive("--batch-size", batch_size),
            max_rejects=max_rejects,
            max_reject_ratio=max_reject_ratio,
        )
        .with_retry(
            file_attempts=positive("--file-attempts", file_attempts),
            db_attempts=positive("--db-attempts", db_attempts),
            deadline=deadline,
        )
    )


def watch_command(
    config: ConfigArgument = DEFAULT_CONFIG,
    database_url: DatabaseOption = None,
    interval: Annotated[
        float, typer.Option(help="Seconds between listings of the sources (remote ones too).")
    ] = 1.0,
    settle: Annotated[
        float,
        typer.Option(help="Seconds a file written in place must stay unchanged to be taken."),
    ] = 1.0,
    workers: Annotated[int | None, typer.Option(help="Parse workers (default: CPU count).")] = None,
    connections: Annotated[
        int | None, typer.Option(help="Database connections (default: CPU count).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per COPY batch.")] = None,
    max_rejects: Annotated[
        int | None,
        typer.Option(help="Rejected records a file may have before it fails (0: none)."),
    ] = None,
    max_reject_ratio: Annotated[
        float | None,
        typer.Option(
            help="Share of a file's records that may be rejected before it fails (default 0.05).",
            show_default=False,
        ),
    ] = None,
    file_attempts: Annotated[
        int | None, typer.Option(help="Tries for file work (open, read), first included.")
    ] = None,
    db_attempts: Annotated[
        int | None, typer.Option(help="Tries for database work (connect, COPY), first included.")
    ] = None,
    retry_deadline: Annotated[
        float | None, typer.Option(help="Give up retrying after this many seconds.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve live metrics for Prometheus, and /healthz, on this port (0: any free).",
            show_default=False,
        ),
    ] = None,
    metrics_address: Annotated[
        str, typer.Option(help="Address the metrics server listens on (0.0.0.0: every one).")
    ] = DEFAULT_METRICS_ADDRESS,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log only errors (no line per loaded file).")
    ] = False,
    verbose: VerboseOption = 0,
    log_format: LogFormatOption = "text",
) -> None:
    """Keep loading files as they land (same pipeline and manifest as run), until stopped."""

    def action() -> int:
        from pgingest.database import resolve_database  # noqa: PLC0415 - only when it runs
        from pgingest.pipeline import RunOptions  # noqa: PLC0415
        from pgingest.report.metrics import Metrics  # noqa: PLC0415
        from pgingest.report.progress import ProgressState  # noqa: PLC0415
        from pgingest.report.prometheus import RunCollector  # noqa: PLC0415
        from pgingest.report.reporter import CompositeReporter  # noqa: PLC0415
        from pgingest.watch import FileLogger, WatchOptions, WatchService  # noqa: PLC0415
        from pgingest.watch.health import watch_server  # noqa: PLC0415

        if interval <= 0 or settle < 0:
            fail_usage(
                f"--interval must be above 0 and --settle 0 or more, got {interval} and {settle}"
            )
        if metrics_port is not None and not 0 <= metrics_port <= 65535:
            fail_usage(f"--metrics-port must be a port number (0 to 65535), got {metrics_port}")
        loaded = _configure(
            config,
            sizes=(workers, connections, batch_size),
            max_rejects=max_rejects,
            max_reject_ratio=max_reject_ratio,
            retry=(file_attempts, db_attempts, retry_deadline),
        )
        if not quiet:
            logging.getLogger(WATCH_LOGGER).setLevel(logging.INFO)
        target = resolve_database(loaded, database_url)  # the embedded one starts once
        state = ProgressState()
        metrics = Metrics()
        service = WatchService(
            loaded,
            WatchOptions(
                interval=interval,
                settle=settle,
                run_options=RunOptions(database_url=target.url, metrics=metrics),
            ),
            reporter=CompositeReporter(state, FileLogger()),
        )
        _Stopper(service).install()
        logging.getLogger(WATCH_LOGGER).info("loading into %s", target)
        try:
            if metrics_port is not None:
                server = watch_server(
                    RunCollector(state, metrics),
                    service.state,
                    port=metrics_port,
                    address=metrics_address,
                )
                with server:
                    if not quiet:
                        stderr.print(f"serving metrics at {server.url}", markup=False)
                    service.serve()
            else:
                service.serve()
        except KeyboardInterrupt:
            logging.getLogger(WATCH_LOGGER).warning(
                "stopped: the batch in flight was rolled back; it loads on the next start"
            )
        else:
            logging.getLogger(WATCH_LOGGER).warning("stopped")
        return EXIT_OK

    guarded(action, verbose=verbose, quiet=quiet, log_format=log_format)
