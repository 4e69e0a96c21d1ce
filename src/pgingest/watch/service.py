"""The watch loop: list → settle → load the complete files together → again, until stopped.

Each pass of the loop (a tick) lists every source, feeds the listing and the
file system events to the SettleTracker, and loads the files that are complete
in one ordinary run (``pgingest.run``) whose sources name exactly those files.
So a watch is a sequence of short runs, one per batch that landed: each is a
row of ``pgingest.runs`` with its own report, and the manifest alone decides
what is already loaded, exactly as for ``pgingest run`` — a watch killed at any
moment and started again loads each file once.

A source in ``replace`` mode is the exception: its table is always the whole
set of its files, so its batch run names the source's own patterns.

Failures never end the watch. A file that fails is recorded ``failed`` by its
run (after the file retry policy) and not tried again until it changes or the
watch restarts (``run --retry-failed`` retries it too). A database that cannot
be reached is retried with a growing pause, logged each time; the files wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pgingest.config import Config, Source
from pgingest.discover import SourceFile
from pgingest.errors import ConfigError, ConnectError, PgIngestError, SourceError
from pgingest.pipeline import RunOptions, run
from pgingest.remote import is_remote
from pgingest.report.metrics import Metrics
from pgingest.report.reporter import CompositeReporter, NullReporter, Reporter
from pgingest.summary import RunReport
from pgingest.watch.events import FileEvent, FolderWatcher
from pgingest.watch.listing import (
    ListedFile,
    exact_pattern,
    is_ignored,
    list_source,
    listed_file,
    matches_pattern,
    watched_folders,
)
from pgingest.watch.settle import FileSignature, SettleTracker

__all__ = ["FileLogger", "WatchOptions", "WatchService", "WatchState"]

logger = logging.getLogger(__name__)

# The pause after a batch could not reach the database doubles from the interval up to
# this, so a database down for an hour costs a log line a minute, not a crash loop.
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class WatchOptions:
    """How a watch runs, beyond the config."""

    interval: float = 1.0  # seconds between listings
    settle: float = 1.0  # seconds a file written in place must stay unchanged
    run_options: RunOptions = field(default_factory=RunOptions)
    max_backoff: float = MAX_BACKOFF_SECONDS
    clock: Callable[[], float] = time.monotonic
    use_events: bool = True  # file system events for local folders (else listing only)


@dataclass
class WatchState:
    """The watch's own figures, for /healthz and the metrics (read from other threads)."""

    runs: int = 0
    files_loaded: int = 0
    files_failed: int = 0
    pending: int = 0
    database_ok: bool = True
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        """The figures now, as a plain dict."""
        with self.lock:
            return {
                "runs": self.runs,
                "files_loaded": self.files_loaded,
                "files_failed": self.files_failed,
                "pending": self.pending,
                "database_ok": self.database_ok,
                "last_error": self.last_error,
            }


class FileLogger(NullReporter):
    """One log line per loaded file (``--log-format json``: a JSON object with path and rows)."""

    def unit_finished(self, file: SourceFile, *, rows: int) -> None:
        """``/data/a.csv: loaded 1,000 rows``."""
        logger.info(
            "%s: loaded %s rows",
            file.label,
            f"{rows:,}",
            extra={"path": file.path, "source": file.source, "figures": {"rows": rows}},
        )


class _DatabaseFailures(NullReporter):
    """Collects the files of a batch that failed for the database's sake, to load them again."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self._lock = threading.Lock()

    def unit_failed(self, file: SourceFile | None, error: PgIngestError) -> None:
        """A unit failed: remember its file when the database, not the file, was the cause."""
        if file is not None and _is_database_trouble(error):
            with self._lock:
                # A zip member (archive.zip!/member.csv) belongs to its archive's path.
                self.paths.add(file.path.split("!/", 1)[0])


def _batch_config(config: Config, chosen: dict[str, list[str]]) -> Config:
    """The config of one batch: each source with complete files, naming exactly those."""
    sources: list[Source] = []
    for source in config.sources:
        paths = chosen.get(source.name)
        if not paths:
            continue
        if source.mode == "replace":
            sources.append(source)  # a replace loads the whole set of the source's files
            continue
        narrowed = source.model_copy(update={"paths": [exact_pattern(p) for p in paths]})
        narrowed._limits = source.limits
        sources.append(narrowed)
    batch = config.model_copy(update={"sources": sources})
    batch._base_dir = config.base_dir
    batch._file = config.file
    return batch


class WatchService:
    """Loads a config's files as they land, until ``stop()``."""

    def __init__(
        self, config: Config, options: WatchOptions, *, reporter: Reporter | None = None
    ) -> None:
        self._config = config
        self._options = options
        self._reporter = reporter
        self._tracker = SettleTracker(options.settle)
        self._source_of: dict[str, str] = {}  # path → source name
        self._listing_errors: dict[str, str] = {}  # source name → its listing's last error
        self._events: list[FileEvent] = []
        self._events_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._in_flight = threading.Event()
        self._backoff_until = 0.0
        self._backoff = 0.0
        self._next_listing = 0.0  # the clock time of the next listing (the first: now)
        self.state = WatchState()
        self.metrics = options.run_options.metrics or Metrics()

    @property
    def is_loading(self) -> bool:
        """Whether a batch is being loaded now."""
        return self._in_flight.is_set()

    def stop(self) -> None:
        """Ask the loop to end after the batch in flight (callable from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def _deliver(self, events: list[FileEvent]) -> None:
        # The embedded database writes below the config's folder all the time: not news.
        events = [event for event in events if not is_ignored(event.path)]
        if not events:
            return
        with self._events_lock:
            self._events.extend(events)
        self._wake.set()

    def serve(self) -> None:
        """Run until stopped: the files pending now first, then each batch as it lands."""
        folders = watched_folders(self._config) if self._options.use_events else []
        watcher = FolderWatcher(folders, self._deliver)
        watcher.start()
        logger.info(
            "watching %d source(s): listing every %ss, settle %ss, events from %s",
            len(self._config.sources),
            self._options.interval,
            self._options.settle,
            ", ".join(folders) or "no local folder",
        )
        try:
            while not self._stopping.is_set():
                self._tick()
                self._wait()
        finally:
            watcher.stop()

    def _wait(self) -> None:
        now = self._options.clock()
        timeout = max(self._next_listing - now, 0.0)
        settling = self._tracker.next_ready_in(now=now)
        if settling is not None:
            timeout = min(timeout, settling + 0.01)
        if self._backoff_until > now:
            timeout = max(timeout, self._backoff_until - now)
        self._wake.wait(timeout)
        self._wake.clear()

    def _tick(self) -> None:
        # Events taken before the listing are of changes the listing already sees.
        with self._events_lock:
            events, self._events = self._events, []
        now = self._options.clock()
        if now >= self._next_listing:
            self._list(now)
            self._next_listing = now + self._options.interval
        self._apply_events(events, now)
        ready = self._confirmed(self._tracker.ready(now=now), now)
        with self.state.lock:
            self.state.pending = self._tracker.pending()
        if ready and now >= self._backoff_until and not self._stopping.is_set():
            self._load(ready)

    def _confirmed(self, ready: list[str], now: float) -> list[str]:
        """The ready local files whose size and mtime are still those the tracker settled on
        (a look at each, in case an event was lost); a changed one starts settling again."""
        confirmed = []
        for path in ready:
            if is_remote(path):
                confirmed.append(path)
                continue
            listed = listed_file(path)
            if listed is None:
                self._forget(path)
            elif listed.signature != self._tracker.signature_of(path):
                self._tracker.observe(path, listed.signature, now=now)
            else:
                confirmed.append(path)
        return confirmed

    def _forget(self, path: str) -> None:
        self._tracker.forget(path)
        self._source_of.pop(path, None)

    def _source_matching(self, path: str) -> str | None:
        """The first source (in config order, as the listing decides) whose patterns match."""
        for source in self._config.sources:
            for raw in source.paths:
                pattern = self._config.resolve_pattern(raw)
                if not is_remote(pattern) and matches_pattern(pattern, path):
                    return source.name
        return None

    def _list(self, now: float) -> None:
        for source in self._config.sources:
            try:
                listed = list_source(self._config, source)
            except PgIngestError as exc:
                self._listing_failed(source.name, exc.describe())
                continue
            if self._listing_errors.pop(source.name, None) is not None:
                logger.warning("source %s: listing works again", source.name)
            present = {f.path for f in listed}
            gone = [p for p, name in self._source_of.items() if name == source.name]
            gone = [p for p in gone if p not in present]
            self._tracker.forget_missing(present, among=gone)
            for path in gone:
                del self._source_of[path]
            for file in listed:
                if self._source_of.setdefault(file.path, source.name) != source.name:
                    continue  # matched by an earlier source too: that source loads it
                self._observe(file, now)

    def _listing_failed(self, source: str, error: str) -> None:
        """Logged once per distinct error, not every interval while it lasts."""
        if self._listing_errors.get(source) != error:
            logger.warning(
                "source %s: listing failed (tried again every interval): %s", source, error
            )
        self._listing_errors[source] = error

    def _observe(self, file: ListedFile, now: float) -> None:
        # An object store publishes an object whole (a PUT or a completed multipart upload):
        # it needs no settling. A web server's files may be still uploading: they settle.
        atomic = file.is_remote and not file.path.startswith(("http://", "https://"))
        age = self._options.settle if atomic else file.age_seconds
        self._tracker.observe(file.path, file.signature, now=now, age_seconds=age)

    def _apply_events(self, events: list[FileEvent], now: float) -> None:
        """Each event in the order it happened; a path no listing has seen yet is matched
        against the sources, so a new file is known without listing its folder."""
        for event in events:
            if event.kind == "deleted":
                self._forget(event.path)
                continue
            if event.path not in self._source_of:
                source = self._source_matching(event.path)
                listed = listed_file(event.path) if source is not None else None
                if source is None or listed is None:
                    continue
                self._source_of[event.path] = source
                self._tracker.observe(
                    event.path, listed.signature, now=now, age_seconds=listed.age_seconds
                )
            if event.kind == "added":
                listed = listed_file(event.path)
                if listed is None:
                    self._forget(event.path)
                else:
                    self._tracker.note_added(event.path, listed.signature, now=now)
            else:
                self._tracker.note_modified(event.path, now=now)

    def _load(self, ready: list[str]) -> None:
        chosen: dict[str, list[str]] = {}
        taken: dict[str, FileSignature] = {}
        unsettled = self._replace_sources_settling(set(ready))
        for path in ready:
            if self._source_of[path] in unsettled:
                continue
            signature = self._tracker.signature_of(path)
            if signature is None:
                continue
            taken[path] = signature
            chosen.setdefault(self._source_of[path], []).append(path)
        if not taken:
            return
        batch = _batch_config(self._config, chosen)
        logger.info("loading %d new file(s)", len(taken), extra={"figures": {"files": len(taken)}})
        database_failures = _DatabaseFailures()
        options = replace(
            self._options.run_options,
            reporter=CompositeReporter(self._reporter, database_failures),
            metrics=self.metrics,
        )
        self._in_flight.set()
        try:
            report = run(batch, options)
        except PgIngestError as exc:
            self._failed_batch(exc, taken)
            return
        except Exception as exc:  # a service outlives its bugs: logged, then tried later
            logger.debug("the batch failed", exc_info=exc)
            self._wait_and_retry(
                taken, f"internal error: {type(exc).__name__}: {exc} (please report it)"
            )
            return
        finally:
            self._in_flight.clear()
        retry = {path: taken.pop(path) for path in database_failures.paths if path in taken}
        self._loaded_batch(report, taken)
        if retry:
            self._failed_batch(
                ConnectError(f"{len(retry)} file(s) lost their database connection"), retry
            )

    def _replace_sources_settling(self, ready: set[str]) -> set[str]:
        """Sources in replace mode with a file still settling: a replace reads every file of
        its source, so it waits until none is being written."""
        replacing = {s.name for s in self._config.sources if s.mode == "replace"}
        return {
            name
            for path, name in self._source_of.items()
            if name in replacing and path not in ready and self._tracker.is_pending(path)
        }

    def _loaded_batch(self, report: RunReport, taken: dict[str, FileSignature]) -> None:
        for path, signature in taken.items():
            self._tracker.mark_taken(path, signature)
        self._backoff = 0.0
        self._backoff_until = 0.0
        for failed in report.failed_files:
            logger.warning(
                "%s: failed (%s): %s; it stays failed until it changes "
                "(or `pgingest run --retry-failed`)",
                failed.path,
                failed.stage,
                failed.error,
                extra={"path": failed.path, "stage": failed.stage},
            )
        with self.state.lock:
            self.state.runs += 1
            self.state.files_loaded += report.files_succeeded
            self.state.files_failed += report.files_failed
            self.state.database_ok = True
            self.state.pending = self._tracker.pending()

    def _wait_and_retry(self, taken: dict[str, FileSignature], reason: str) -> None:
        """The files wait; the next try comes after a pause that doubles up to max_backoff."""
        interval = max(self._options.interval, 0.1)
        self._backoff = min(max(self._backoff * 2, interval), self._options.max_backoff)
        self._backoff_until = self._options.clock() + self._backoff
        logger.warning(
            "%s; %d file(s) wait, trying again in %.1fs",
            reason,
            len(taken),
            self._backoff,
            extra={"figures": {"files": len(taken), "backoff_seconds": self._backoff}},
        )
        with self.state.lock:
            self.state.database_ok = False
            self.state.last_error = reason

    def _failed_batch(self, error: PgIngestError, taken: dict[str, FileSignature]) -> None:
        if _is_database_trouble(error):
            self._wait_and_retry(taken, f"the database cannot be reached ({error.describe()})")
            return
        # Not the database: trying the same files again would fail the same way.
        for path, signature in taken.items():
            self._tracker.mark_taken(path, signature)
        logger.error(
            "a batch of %d file(s) failed: %s; they are tried again when they change",
            len(taken),
            error.describe(),
        )
        with self.state.lock:
            self.state.files_failed += len(taken)
            self.state.last_error = error.describe()


def _is_database_trouble(error: PgIngestError) -> bool:
    """An error a later try may not meet: the database down or busy, not a bad file or config."""
    if isinstance(error, ConfigError | SourceError):
        return False
    return error.is_transient or isinstance(error, ConnectError)
