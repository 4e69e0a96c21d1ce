"""A CSV body's records counted on its bytes: always pyarrow's own count, or None."""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from pgingest.parse import record_count
from pgingest.parse.csv_exact import has_mid_field_quotes
from pgingest.parse.record_count import count_records

HEADER = b"x,y,z\n"


@pytest.fixture(autouse=True, params=["bytes", "numpy"])
def counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: bodies counted with bytes methods, and with numpy."""
    limit = 1 << 30 if request.param == "bytes" else -1
    monkeypatch.setattr(record_count, "SMALL_BODY_BYTES", limit)
    return str(request.param)


def _pyarrow_rows(body: bytes, *, quote: str | None) -> int | None:
    """pyarrow's record count as pgingest reads CSV (None: pyarrow cannot read it)."""
    try:
        table = pcsv.read_csv(
            pa.BufferReader(HEADER + body),
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(
                quote_char=quote if quote is not None else False,
                double_quote=quote is not None,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in ("x", "y", "z")}
            ),
        )
    except pa.ArrowInvalid:
        return None
    return int(table.num_rows)


def _field(rng: random.Random) -> str:
    kind = rng.random()
    text = "".join(rng.choice(["a", "é", " ", "1", "-"]) for _ in range(rng.randrange(4)))
    if kind < 0.4:
        return text
    inner = "".join(
        rng.choice(["b", ",", '""', "\n", "\r\n", " ", "x"]) for _ in range(rng.randrange(6))
    )
    return '"' + inner + '"' + (text if kind > 0.9 else "")


def _body(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randrange(12)):
        roll = rng.random()
        if roll < 0.15:
            lines.append("")  # an empty line
        else:
            lines.append(",".join(_field(rng) for _ in range(3)))
    ending = rng.choice(["\n", "\r\n"])
    text = ending.join(lines)
    if lines and rng.random() < 0.7:
        text += ending
    return text.encode()


def _check(body: bytes, quote: str | None) -> bool:
    """Whether the count agrees with pyarrow's where it answers; True when it answered."""
    mid_field = quote is not None and has_mid_field_quotes(
        io.BytesIO(HEADER + body), delimiter=",", quote=quote
    )
    checked = count_records(body, quote=quote, delimiter=",")  # finds mid-field quotes itself
    if mid_field:
        assert checked is None, body
        return False
    counted = count_records(body, quote=quote)
    assert checked == counted, body
    if counted is None:
        return False
    expected = _pyarrow_rows(body, quote=quote)
    if expected is not None:
        assert counted == expected, body
    return expected is not None


@pytest.mark.parametrize("seed", range(4))
def test_the_count_is_pyarrows_on_generated_bodies(seed: int) -> None:
    rng = random.Random(seed)
    answered = sum(_check(_body(rng), '"') for _ in range(2500))
    assert answered > 1000  # most generated bodies are counted, not turned away


def test_the_count_is_pyarrows_on_arbitrary_bytes() -> None:
    rng = random.Random(7)
    alphabet = [b"a", b",", b'"', b"\n", b"\r", b"\r\n", b" ", b"\xc3\xa9", b"\x00"]
    answered = 0
    for _ in range(20000):
        body = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(14)))
        answered += _check(body, '"')
        _check(body, None)
    assert answered > 1000


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", 0),
        (b"\n", 0),
        (b"\r\n\r\n", 0),
        (b"1,2,3", 1),
        (b"1,2,3\n\n4,5,6\r\n", 2),
        (b'1,"a\nb",3\n', 1),
        (b'1,"a\r\n\r\nb",3\r\n\r\n4,5,6', 2),
        (b'1,"say ""hi""\n",3\n', 1),
    ],
)
def test_known_bodies(body: bytes, expected: int) -> None:
    assert count_records(body, quote='"') == expected
    assert _pyarrow_rows(body, quote='"') == expected


@pytest.mark.parametrize(
    "body",
    [
        b'1,"open\n',  # ends inside a quoted field
        b"1,2,3\r4,5,6\n",  # a lone CR ends a line too
        b"1,2,3\n\r",
    ],
)
def test_bodies_it_cannot_be_sure_of_are_turned_away(body: bytes) -> None:
    assert count_records(body, quote='"') is None
    assert count_records(body, quote='"', delimiter=",") is None


@pytest.mark.parametrize(
    ("body", "mid_field"),
    [
        (b'"a",b\n', False),  # at the body's start
        (b'1,"a"\n"b",2\n', False),  # after a delimiter, after a line break
        (b'1,"say ""hi"""\n', False),  # doubled quotes inside a quoted part
        (b'1,"a"\r\n"b",2\r\n', False),  # after a CRLF
        (b'1,x"y"\n', True),  # in mid-field
        (b'1,"a"b"c"\n', True),  # a second quoted part after text
        (b'1;"a"\n', True),  # after another dialect's delimiter
    ],
)
def test_a_quote_in_mid_field_is_found_in_the_same_scan(body: bytes, mid_field: bool) -> None:
    assert has_mid_field_quotes(io.BytesIO(HEADER + body), delimiter=",", quote='"') is mid_field
    counted = count_records(body, quote='"', delimiter=",")
    assert (counted is None) is mid_field
    assert count_records(body, quote='"') is not None
