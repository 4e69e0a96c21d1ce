"""Rejected records are kept by ``pgingest.store.rejects``; these names stay importable here."""

from __future__ import annotations

from pgingest.store.rejects import Reject, write_rejects

__all__ = ["Reject", "write_rejects"]
