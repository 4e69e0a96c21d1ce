"""Moved to ``pgingest.store.manifest``; these names stay importable from here."""

from __future__ import annotations

from pgingest.store.manifest import (
    Decision,
    LoadedEntry,
    ManifestLookup,
    decide,
    failed_paths,
    fingerprint_file,
    fingerprint_files,
    is_recorded,
    loaded_entries,
    loaded_paths,
    loaded_rows,
    lock_for_replace,
    look_up,
    mark_replaced,
    overlaps_loaded,
    part_range,
    parts_progress,
    record_failed,
    record_loaded,
    replace_table_manifest,
)

__all__ = [
    "Decision",
    "LoadedEntry",
    "ManifestLookup",
    "decide",
    "failed_paths",
    "fingerprint_file",
    "fingerprint_files",
    "is_recorded",
    "loaded_entries",
    "loaded_paths",
    "loaded_rows",
    "lock_for_replace",
    "look_up",
    "mark_replaced",
    "overlaps_loaded",
    "part_range",
    "parts_progress",
    "record_failed",
    "record_loaded",
    "replace_table_manifest",
]
