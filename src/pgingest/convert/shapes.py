"""Whether every value of a column has one fixed-width canonical shape, checked in place.

Machine-written files spell a column one way (``2024-05-05 18:20:24+00`` on
every line). When all values of a batch have the same length, their bytes lie
end to end and are viewed as a (rows, width) matrix without copying. The
bytes allowed at a position form one or two runs (``0-5``; ``T`` or space),
so each byte is checked with one wrapping subtraction and one comparison per
run, on the uint8 matrix itself. (A lookup table indexed by the matrix, the
first way this was written, converts every byte to a 64-bit index first: 5,000
timestamps took ~3.6 ms that way against ~0.25 ms now — issue 12 — and a
regular expression per value ~2 ms.) A batch that is not uniform is matched
value by value instead (convert/text.py).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Shape", "uniform_matrix"]

# Template letters: a class of bytes allowed at that position; other letters stand for themselves.
_CLASSES = {
    "9": b"0123456789",
    "5": b"012345",
    "3": b"0123",
    "2": b"012",
    "1": b"01",
    "T": b"T ",
    "±": b"+-",
}


class Shape:
    """One fixed-width template, e.g. ``1999-19-39T29:59:59±19`` (letters as in _CLASSES)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.width = len(template)

    @functools.cached_property
    def allowed(self) -> np.ndarray:
        """(width, 256): whether a byte may stand at a position."""
        allowed = np.zeros((self.width, 256), dtype=bool)
        for position, letter in enumerate(self.template):
            for byte in _CLASSES.get(letter, letter.encode()):
                allowed[position, byte] = True
        return allowed

    @functools.cached_property
    def _runs(self) -> tuple[np.ndarray, np.ndarray]:
        # Made when first matched: building convert/text.py's 40-odd templates at import
        # was most of its 78 ms there, paid by every `pgingest run` (issue 12).
        return _byte_runs(self.allowed)

    def matches(self, matrix: np.ndarray) -> bool:
        """Whether every row of a (rows, width) byte matrix fits the template."""
        if matrix.shape[1] != self.width:
            raise ValueError(f"a matrix {matrix.shape[1]} bytes wide for a {self.width}-byte shape")
        starts, spans = self._runs
        # uint8 arithmetic wraps: a byte below the run's start becomes large.
        fits = np.subtract(matrix, starts[0], dtype=np.uint8) <= spans[0]
        for start, span in zip(starts[1:], spans[1:], strict=True):
            fits |= np.subtract(matrix, start, dtype=np.uint8) <= span
        return bool(fits.all())

    def sign_position(self) -> int | None:
        """Where the zone offset's sign is, if the template has one."""
        index = self.template.find("±")
        return index if index >= 0 else None


def _byte_runs(allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each position's allowed bytes as runs: (runs, width) start bytes and lengths - 1.

    Positions with fewer runs than the most repeat their first run, which
    changes nothing in an OR of the runs.
    """
    runs: list[list[tuple[int, int]]] = []
    for position in allowed:
        edges = np.flatnonzero(np.diff(np.concatenate(([0], position.astype(np.int8), [0]))))
        pairs = [
            (int(start), int(end) - 1) for start, end in zip(edges[::2], edges[1::2], strict=True)
        ]
        if not pairs:
            raise ValueError("a template position allows no byte")
        runs.append(pairs)
    most = max(len(pairs) for pairs in runs)
    starts = np.zeros((most, len(runs)), dtype=np.uint8)
    spans = np.zeros((most, len(runs)), dtype=np.uint8)
    for column, pairs in enumerate(runs):
        for index in range(most):
            first, last = pairs[index] if index < len(pairs) else pairs[0]
            starts[index, column], spans[index, column] = first, last - first
    return starts, spans


def uniform_matrix(array: pa.Array) -> np.ndarray | None:
    """The values' bytes as a (valid rows, width) matrix, or None if their lengths differ."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type) or len(array) == 0:
        return None
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4
    )
    lengths = np.diff(offsets)
    if array.null_count:
        lengths = lengths[np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False))]
    if not len(lengths) or not (lengths == lengths[0]).all() or lengths[0] == 0:
        return None
    data_buffer = array.buffers()[2]
    if data_buffer is None:
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    first, last = int(offsets[0]), int(offsets[-1])
    return data[first:last].reshape(len(lengths), int(lengths[0]))
