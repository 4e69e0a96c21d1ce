"""The only place that knows the order of the stages: a run, and each unit within it."""

from __future__ import annotations

from pgingest.pipeline.run import RunOptions, run

__all__ = ["RunOptions", "run"]
