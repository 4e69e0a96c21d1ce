"""File system events of the watched folders, from watchdog, on its observer's thread.

Events only make the watch quicker: they wake it the moment a file lands and
tell a renamed file from one written in place (settle.py). The listing every
interval stays the source of truth, so an event lost (a queue overflow, a
network file system that sends none) delays a file, never loses it.

Why watchdog and not watchfiles: watchfiles reports a file created and written
in one burst as ``added`` alone (the write's modification is folded into the
addition), so a producer that writes a first chunk and pauses looks exactly
like a rename. watchdog passes each inotify event on: a rename into place is
``created`` (from outside the folder) or ``moved`` (within it) with no
``modified`` after it, while writing in place always brings ``modified``.
It watches with inotify (Linux), FSEvents (macOS), kqueue (BSD) or
ReadDirectoryChangesW (Windows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from watchdog.events import (
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

__all__ = ["FileEvent", "FolderWatcher"]

logger = logging.getLogger(__name__)

EventKind = Literal["added", "modified", "deleted"]


@dataclass(frozen=True)
class FileEvent:
    """One change of one path."""

    kind: EventKind
    path: str


def _text(path: bytes | str) -> str:
    return path.decode() if isinstance(path, bytes) else path


def translate_event(event: FileSystemEvent) -> list[FileEvent]:
    """A watchdog event as the watch's events (none for folders, opens and closes)."""
    if event.is_directory:
        return []
    source = _text(event.src_path)
    if event.event_type == EVENT_TYPE_CREATED:
        return [FileEvent("added", source)]
    if event.event_type == EVENT_TYPE_MODIFIED:
        return [FileEvent("modified", source)]
    if event.event_type == EVENT_TYPE_DELETED:
        return [FileEvent("deleted", source)]
    if event.event_type == EVENT_TYPE_MOVED:
        return [FileEvent("deleted", source), FileEvent("added", _text(event.dest_path))]
    return []


class _Forward(FileSystemEventHandler):
    def __init__(self, deliver: Callable[[list[FileEvent]], None]) -> None:
        self._deliver = deliver

    def on_any_event(self, event: FileSystemEvent) -> None:
        translated = translate_event(event)
        if translated:
            self._deliver(translated)


class FolderWatcher:
    """Watches folders (recursively) and hands each event to ``deliver``, on another thread."""

    def __init__(self, folders: list[str], deliver: Callable[[list[FileEvent]], None]) -> None:
        self._folders = folders
        self._deliver = deliver
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        """Start watching (nothing to do without folders; a failure leaves listing alone)."""
        if not self._folders:
            return
        observer = Observer()
        observer.daemon = True  # never holds the exit up
        handler = _Forward(self._deliver)
        try:
            for folder in self._folders:
                observer.schedule(handler, folder, recursive=True)
            observer.start()
        except OSError as exc:  # inotify watch limit, a folder gone, ...
            logger.warning(
                "cannot follow file system events (%s); new files are found by listing only",
                exc,
            )
            return
        self._observer = observer

    def stop(self) -> None:
        """Stop watching and wait (briefly) for the observer's thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None
