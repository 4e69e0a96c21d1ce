"""Executors run units of work: locally on threads by default (dask later plugs in here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from pgingest.executor.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor"]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs a function over units, yielding results as they finish."""

    def map_unordered(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results of ``function`` over ``items``, in completion order."""
        ...
