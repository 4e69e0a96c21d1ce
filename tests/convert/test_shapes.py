"""Fixed-width shapes: the run check agrees with the byte table on every byte at every position."""

from __future__ import annotations

import numpy as np
import pytest

from pgingest.convert import text
from pgingest.convert.shapes import Shape

SHAPES = [*text._ZONED_SHAPES, *text._LOCAL_SHAPES, *text._TIME_SHAPES, *text._DATE_SHAPES]


def _table_verdicts(shape: Shape, matrix: np.ndarray) -> np.ndarray:
    """Per row, whether the byte table allows every byte (the reference)."""
    return shape.allowed[np.arange(shape.width), matrix].all(axis=1)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.template)
def test_every_byte_at_every_position_is_judged_as_the_table_says(shape: Shape) -> None:
    canonical = np.array(
        [shape.allowed[position].nonzero()[0][0] for position in range(shape.width)],
        dtype=np.uint8,
    )
    for position in range(shape.width):
        rows = np.tile(canonical, (256, 1))
        rows[:, position] = np.arange(256, dtype=np.uint8)  # one row per byte value
        expected = _table_verdicts(shape, rows)
        assert expected.any()
        assert not expected.all()
        for row, verdict in enumerate(expected):
            assert shape.matches(rows[row : row + 1]) is bool(verdict), (position, row)


def test_random_matrices_agree_with_the_table() -> None:
    generator = np.random.default_rng(12)
    for shape in SHAPES:
        allowed_bytes = [shape.allowed[p].nonzero()[0] for p in range(shape.width)]
        for _ in range(20):
            rows = np.stack(
                [generator.choice(allowed, size=50) for allowed in allowed_bytes], axis=1
            ).astype(np.uint8)
            assert shape.matches(rows)
            flip = generator.integers(0, shape.width)
            rows[generator.integers(0, 50), flip] = generator.integers(0, 256)
            assert shape.matches(rows) is bool(_table_verdicts(shape, rows).all())


def test_a_matrix_of_another_width_is_refused() -> None:
    shape = Shape("29:59")
    with pytest.raises(ValueError, match="wide"):
        shape.matches(np.zeros((3, 4), dtype=np.uint8))
