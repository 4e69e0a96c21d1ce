"""A local file the client found but a worker on another host cannot see.

With Dask, every worker must see a local file at the path the client found it:
a worker that does not fails the file with its host named, rather than the
client's "moved or deleted after the run found it", which would mislead.
"""

from __future__ import annotations

import dataclasses
import os

from pgingest.errors import SourceError
from pgingest.pipeline.unit.result import UnitFailure, UnitResult

__all__ = ["seen_from"]


def seen_from(host: str, result: UnitResult) -> UnitResult:
    """``result`` as ``host`` saw it: a missing local file says which host missed it."""
    failure = result.failure
    if failure is None or not isinstance(failure.error, SourceError):
        return result
    path = result.unit.file.path
    if result.unit.file.origin is not None or os.path.exists(path):
        return result  # a remote object, or a file that is there: the error stands
    error = SourceError(
        f"not found on {host}, though the client found it",
        hint="every worker must see a local file at the same path: put the files on a "
        "folder every host mounts, or in an object store (s3://, gs://)",
        path=path,
    )
    return dataclasses.replace(result, failure=UnitFailure(failure.stage, error, failure.rejects))
