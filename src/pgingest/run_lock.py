"""Moved to ``pgingest.store.run_lock``; these names stay importable from here."""

from __future__ import annotations

from pgingest.store.run_lock import mark_interrupted, run_lock_taker, take_run_lock

__all__ = ["mark_interrupted", "run_lock_taker", "take_run_lock"]
