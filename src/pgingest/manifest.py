"""Moved to ``pgingest.store.manifest``; its names stay importable from here."""

from __future__ import annotations

from pgingest.store.manifest import *  # noqa: F403 - every name of the module that moved
