"""Decompressed bytes within bounds: a compression bomb fails before it fills a disk or a day.

A reader streams, so a bomb costs no memory; it costs time, and disk where a
file is decompressed to the temporary folder (zip members, compressed Parquet
and spreadsheets). Past ``RATIO_GRACE_BYTES`` the bytes out per byte in are
held to ``settings.limits.max_compression_ratio``, and the total to
``max_decompressed_bytes`` (see config.Limits).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from pgingest.config import Limits
from pgingest.errors import SourceError

__all__ = ["LIMITS_HINT", "RATIO_GRACE_BYTES", "DecompressionGuard", "check_compression_ratio"]

# The ratio is judged only past this many decompressed bytes: a small file may
# compress very well (a header and a few empty fields), and 16 MiB costs no
# memory, since every reader streams, and a moment of time.
RATIO_GRACE_BYTES = 16 << 20

LIMITS_HINT = "if the file is trusted, raise settings.limits.{} in the config"


def check_compression_ratio(
    decompressed: int, compressed: int, limits: Limits, *, path: str, what: str = "the file"
) -> None:
    """Fail when ``decompressed`` bytes from ``compressed`` pass a decompression limit."""
    cap = limits.max_decompressed_bytes
    if cap is not None and decompressed > cap:
        raise SourceError(
            f"{what} decompresses to more than {cap:,} bytes (max_decompressed_bytes)",
            hint=LIMITS_HINT.format("max_decompressed_bytes"),
            path=path,
        )
    ratio = decompressed / max(compressed, 1)
    if decompressed > RATIO_GRACE_BYTES and ratio > limits.max_compression_ratio:
        raise SourceError(
            f"{what} decompresses {ratio:,.0f} times its compressed size, past "
            f"max_compression_ratio ({limits.max_compression_ratio:g}): a compression bomb?",
            hint=LIMITS_HINT.format("max_compression_ratio"),
            path=path,
        )


class DecompressionGuard(io.RawIOBase):
    """A decompressed stream that fails past the decompressed size or ratio limits."""

    def __init__(
        self, source: Any, compressed: Callable[[], int], limits: Limits, *, path: str
    ) -> None:
        super().__init__()
        self._source = source  # anything with read(n) -> bytes
        self._compressed = compressed  # compressed bytes read so far
        self._limits = limits
        self._path = path
        self._total = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` decompressed bytes (read whole blocks: this copies nothing)."""
        data: bytes = self._source.read(size)
        self._total += len(data)
        check_compression_ratio(self._total, self._compressed(), self._limits, path=self._path)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()
