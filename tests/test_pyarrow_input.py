"""What pyarrow's CSV reader is given of a streamed file: the same bytes, a line break
added only where missing, never a read but the last ending in CR, never over the size."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from pgingest.parse.csv_parts import PyarrowInput


def _reads(data: bytes, size: int, *, final_newline: bool) -> tuple[list[bytes], PyarrowInput]:
    source = PyarrowInput(pa.BufferReader(data), final_newline=final_newline, quote=b'"')
    reads = []
    while chunk := source.read(size):
        reads.append(chunk)
    return reads, source


@pytest.mark.parametrize("seed", range(3))
def test_the_text_is_unchanged_but_for_a_missing_final_line_break(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        data = b"".join(rng.choice([b"a", b"\r", b"\n", b"\r\n", b'"', b","]) for _ in range(30))
        data = data[: rng.randrange(len(data) + 1)]
        size = rng.choice([2, 3, 4, 7, 16, 64])
        final_newline = rng.random() < 0.5
        reads, source = _reads(data, size, final_newline=final_newline)
        expected = data + (b"\n" if final_newline and not data.endswith(b"\n") else b"")
        assert b"".join(reads) == expected
        assert all(len(chunk) <= size for chunk in reads)
        assert not any(chunk.endswith(b"\r") and chunk.strip(b"\r") for chunk in reads[:-1])
        assert source.quotes_open == (data.count(b'"') % 2 == 1)


def test_a_short_file_and_its_line_break_come_in_one_read() -> None:
    """pyarrow needs the header line whole in its first block."""
    assert _reads(b"id,name", 1 << 18, final_newline=True)[0] == [b"id,name\n"]
    assert _reads(b"", 1 << 18, final_newline=True)[0] == [b"\n"]
    assert _reads(b"id\n", 1 << 18, final_newline=True)[0] == [b"id\n"]
