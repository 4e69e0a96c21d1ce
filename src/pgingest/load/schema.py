"""Moved to ``pgingest.store.schema``; these names stay importable from here."""

from __future__ import annotations

from pgingest.store.schema import MANIFEST_UNIQUE_INDEX, MIGRATIONS, ensure_schema

__all__ = ["MANIFEST_UNIQUE_INDEX", "MIGRATIONS", "ensure_schema"]
