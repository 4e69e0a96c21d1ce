"""``pgingest watch``: load files continuously as they land, exactly once.

service.py    the loop: list, settle, load each batch of complete files as one run
settle.py     when a file is complete (renamed into place, or unchanged for --settle)
listing.py    what the sources match now; the folders whose events to follow
events.py     file system events (watchdog) on a thread of their own
health.py     --metrics-port: the run metrics plus the watch's, and /healthz
"""

from __future__ import annotations

from pgingest.watch.service import FileLogger, WatchOptions, WatchService, WatchState

__all__ = ["FileLogger", "WatchOptions", "WatchService", "WatchState"]
