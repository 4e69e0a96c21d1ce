"""encoding "auto": Arrow's UTF-8 check (issue 12) gives Python's strict decoder's verdict.

``_is_clean_utf8`` answers whether a file is valid UTF-8 holding no U+FFFD.
The reference is Python's strict decoder over the whole bytes; the check reads
them in blocks of every small size, so characters, overlong forms, surrogates
and U+FFFD fall across block boundaries and at the end of the file.
"""

from __future__ import annotations

import io
import random

import pytest

from pgingest.parse import encoding
from pgingest.parse.encoding import _is_clean_utf8

_REPLACEMENT = "\ufffd".encode()


@pytest.fixture(autouse=True, params=["decoded", "arrow"])
def validator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: short blocks decoded by Python, and every block checked by Arrow."""
    if request.param == "arrow":
        monkeypatch.setattr(encoding, "_DECODED_BYTES", -1)
    return str(request.param)


_VALID = [
    b"a", b"abc,", b"\n", b"\x00", "é".encode(), "€".encode(), "😀".encode(), "\u07ff".encode(),
    "\u0800".encode(), "\uffff".encode(), "\U00010000".encode(), "\U0010ffff".encode(),
    "\ud7ff".encode(), "\ue000".encode(),
]  # fmt: skip
_HOSTILE = [
    _REPLACEMENT,  # valid, but the counting scan must see it
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x80\x80\x80",  # overlong
    b"\xf0\x8f\xbf\xbf",  # overlong
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xb0\x80",  # surrogates
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf7\xbf\xbf\xbf",  # above U+10FFFF
    b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xfe", b"\xff",
    b"\x80", b"\xbf", b"\x80\x80",  # lone continuation bytes
    b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xef\xbf", b"\xef",  # truncated
]  # fmt: skip


def _python_verdict(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\ufffd" not in text


def _check(data: bytes) -> bool:
    raw = io.BytesIO(data)
    return _is_clean_utf8(raw.read(encoding.SCAN_BLOCK_BYTES), raw)


def _random_bytes(rng: random.Random, *, hostile: float) -> bytes:
    pieces = []
    for _ in range(rng.randint(0, 25)):
        pieces.append(rng.choice(_HOSTILE if rng.random() < hostile else _VALID))
    if rng.random() < 0.05:
        pieces.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 12))))
    return b"".join(pieces)


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 4, 5, 6, 7, 16, 1 << 20])
def test_random_bytes_get_the_strict_decoders_verdict(
    monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(encoding, "SCAN_BLOCK_BYTES", block_bytes)
    rng = random.Random(block_bytes)
    verdicts = set()
    for number in range(3000):
        data = _random_bytes(rng, hostile=0.0 if number % 3 == 0 else 0.05)
        verdict = _python_verdict(data)
        assert _check(data) == verdict, data
        verdicts.add(verdict)
    assert verdicts == {True, False}


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 4, 5, 1 << 20])
def test_each_kind_at_each_block_offset_and_the_end(
    monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    monkeypatch.setattr(encoding, "SCAN_BLOCK_BYTES", block_bytes)
    for piece in _HOSTILE + _VALID:
        for before in (b"", b"a", b"ab", b"abc", "é".encode(), "€".encode()):
            for after in (b"", b"z", "é".encode(), "😀".encode(), b"\x80"):
                data = before + piece + after
                assert _check(data) == _python_verdict(data), data


def test_every_short_byte_string_gets_the_strict_decoders_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # All 1- and 2-byte strings, and 3- and 4-byte strings from the bytes that matter
    # (every lead byte class, the continuation range's ends, the surrogate and
    # overlong boundaries), cut at every block size.
    edges = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBD, 0xBF, 0xC0, 0xC1, 0xC2]
    edges += [0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xF8, 0xFF]
    strings = [bytes([a]) for a in range(256)]
    strings += [bytes([a, b]) for a in range(256) for b in range(256)]
    strings += [bytes([a, b, c]) for a in edges for b in edges for c in edges]
    strings += [bytes([0xF0, b, c, d]) for b in edges for c in edges for d in (0x80, 0xBF, 0x41)]
    strings += [bytes([0xF4, b, c, d]) for b in edges for c in edges for d in (0x80, 0xBF)]
    for block_bytes in (1, 2, 3, 1 << 20):
        monkeypatch.setattr(encoding, "SCAN_BLOCK_BYTES", block_bytes)
        for data in strings:
            assert _check(data) == _python_verdict(data), data
