"""The Dask executor: units of work as tasks on a dask.distributed cluster.

dask is an optional extra (``pip install 'pgingest[dask]'``) and is imported
only when this executor is used. Each task runs on a worker process that
parses its file and loads it over its own connections to the database (see
pipeline/remote.py); only the unit's description goes out and only its
result and figures come back. When a worker dies, the scheduler runs its
tasks again elsewhere, and the manifest makes each unit land once.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from pgingest.errors import ConfigError

__all__ = ["DaskExecutor"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Tasks in flight per worker thread: enough to keep every thread busy while a
# result travels back, few enough that the client never holds many results.
TASKS_PER_THREAD = 2


def _distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError as exc:
        raise ConfigError(
            "the dask executor needs dask.distributed, which is not installed",
            hint="pip install 'pgingest[dask]'",
        ) from exc
    return distributed


class DaskExecutor:
    """Runs units as Dask tasks; results come back in completion order."""

    def __init__(self, client: Any, *, owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client

    @classmethod
    def connect(cls, scheduler: str) -> DaskExecutor:
        """An executor on the cluster whose scheduler listens at ``scheduler``."""
        distributed = _distributed()
        try:
            client = distributed.Client(scheduler, timeout="20s", set_as_default=False)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                hint="start it with `dask scheduler` (and workers with `dask worker ADDRESS`), "
                "or check --scheduler",
            ) from exc
        return cls(client, owns_client=True)

    def threads(self) -> int:
        """Worker threads across the cluster (at least 1)."""
        return max(int(sum(self.client.nthreads().values())), 1)

    def map_unordered(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results of ``function`` over ``items`` as tasks finish; submission is bounded."""
        distributed = _distributed()
        limit = self.threads() * TASKS_PER_THREAD
        source = iter(items)
        first = [
            self.client.submit(function, item, pure=False)
            for item in itertools.islice(source, limit)
        ]
        if not first:
            return
        finished = distributed.as_completed(first, loop=self.client.loop)
        for future in finished:
            result: R = future.result()
            future.release()
            yield result
            for item in itertools.islice(source, 1):
                finished.add(self.client.submit(function, item, pure=False))

    def close(self) -> None:
        """Disconnect (only a client this executor opened)."""
        if self._owns_client:
            self.client.close()
