"""How load/ times its work without knowing who keeps the figures (the run's metrics)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

__all__ = ["NO_TIMING", "StageTimer"]


class StageTimer(Protocol):
    """Times blocks of work as stages (``encode``, ``copy``); the run's Metrics is one."""

    def stage(self, name: str) -> AbstractContextManager[None]:
        """Time the block as work of stage ``name``."""
        ...


class _NoTiming:
    """Times nothing: for a COPY whose stages nobody asked about."""

    def stage(self, name: str) -> AbstractContextManager[None]:
        del name
        return nullcontext()


NO_TIMING: StageTimer = _NoTiming()
