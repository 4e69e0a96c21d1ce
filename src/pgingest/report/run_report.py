"""The run report lives in ``pgingest.summary``; these names stay importable from here."""

from __future__ import annotations

from pgingest.summary import FailedFile, RunReport, TableFigures

__all__ = ["FailedFile", "RunReport", "TableFigures"]
