"""has_mid_field_quotes (issue 12: a lookup table) answers as the check it replaced, on any bytes.

The reference is the earlier implementation, kept here as it was, and a plain
byte-by-byte reading of the rule; all three read the same random and hostile
byte strings, in blocks of every small size so that quotes, BOMs and line breaks
fall on block boundaries.
"""

from __future__ import annotations

import io
import random
from typing import IO

import numpy as np
import pytest

from pgingest.parse import csv_exact
from pgingest.parse.csv_exact import has_mid_field_quotes

_BOM = b"\xef\xbb\xbf"


def _earlier_has_mid_field_quotes(
    stream: IO[bytes], *, delimiter: str, quote: str, block_bytes: int
) -> bool:
    """The check as it was before issue 12's rewrite (np.isin, a modulo per quote)."""
    quote_byte, delimiter_byte = ord(quote), ord(delimiter)
    boundaries = np.array([delimiter_byte, 10, 13, quote_byte], dtype=np.uint8)
    quotes_before = 0
    previous = 10
    first = True
    while block := stream.read(block_bytes):
        if first and block.startswith(_BOM):
            block = block[len(_BOM) :]
        first = False
        data = np.frombuffer(block, dtype=np.uint8)
        positions = np.flatnonzero(data == quote_byte)
        if positions.size:
            opening = positions[(quotes_before + np.arange(positions.size)) % 2 == 0]
            before = np.where(opening > 0, data[np.maximum(opening - 1, 0)], previous)
            if not np.isin(before, boundaries).all():
                return True
            quotes_before += positions.size
        if data.size:
            previous = int(data[-1])
    return False


def _plain_rule(data: bytes, *, delimiter: str, quote: str, block_bytes: int) -> bool:
    """The rule byte by byte: an opening quote follows a delimiter, line break or quote."""
    if data[:block_bytes].startswith(_BOM):
        data = data[len(_BOM) :]
    allowed = {ord(delimiter), 10, 13, ord(quote)}
    quotes = 0
    for index, byte in enumerate(data):
        if byte != ord(quote):
            continue
        if quotes % 2 == 0 and index > 0 and data[index - 1] not in allowed:
            return True
        quotes += 1
    return False


_ALPHABET = [b'"', b'"', b'""', b",", b";", b"\n", b"\r", b"\r\n", b"a", b"bc", b"'", b" ", _BOM]


def _random_bytes(rng: random.Random) -> bytes:
    pieces = [rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40))]
    data = b"".join(pieces)
    if rng.random() < 0.2:
        data = _BOM + data
    if rng.random() < 0.05:
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))  # any bytes
    return data


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 4, 5, 7, 64, 4 << 20])
def test_random_bytes_get_the_earlier_answer(
    monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(csv_exact, "SCAN_BLOCK_BYTES", block_bytes)
    rng = random.Random(block_bytes)
    answers = set()
    for _ in range(1500):
        data = _random_bytes(rng)
        delimiter, quote = rng.choice([(",", '"'), (";", '"'), (",", "'"), ("\t", "|")])
        new = has_mid_field_quotes(io.BytesIO(data), delimiter=delimiter, quote=quote)
        earlier = _earlier_has_mid_field_quotes(
            io.BytesIO(data), delimiter=delimiter, quote=quote, block_bytes=block_bytes
        )
        plain = _plain_rule(data, delimiter=delimiter, quote=quote, block_bytes=block_bytes)
        assert new == earlier == plain, (data, delimiter, quote)
        answers.add(new)
    assert answers == {True, False}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        _BOM,
        _BOM + b'"a",b\n',
        _BOM + b'x"a",b\n',
        b'"a","b"\n"c""d",e\n',  # doubled quotes inside a quoted field
        b'a,b"c"\n',  # a quote in mid-field
        b'"a"b"c"\n',  # after a closing quote, a quote in mid-field
        b'"a""b"\n',
        b'x\r"a"\r',
        b'"\n' * 5,
        b'a"',  # the last byte
    ],
)
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 4, 1 << 20])
def test_hostile_bytes_get_the_earlier_answer(
    monkeypatch: pytest.MonkeyPatch, data: bytes, block_bytes: int
) -> None:
    monkeypatch.setattr(csv_exact, "SCAN_BLOCK_BYTES", block_bytes)
    new = has_mid_field_quotes(io.BytesIO(data), delimiter=",", quote='"')
    earlier = _earlier_has_mid_field_quotes(
        io.BytesIO(data), delimiter=",", quote='"', block_bytes=block_bytes
    )
    assert new == earlier == _plain_rule(data, delimiter=",", quote='"', block_bytes=block_bytes)
