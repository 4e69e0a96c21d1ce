"""The sniffer's shortcut (issue 12) answers exactly as the full computation, on any sample.

A candidate that splits the header into fewer than two fields does not split
the rest of the sample; the reference answer is the same sniffer with the
shortcut turned off (every candidate then splits the whole sample, as before).
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest

from pgingest.config import AUTO
from pgingest.errors import ParseError
from pgingest.parse import sniff
from pgingest.parse.sniff import read_sample, sniff_dialect
from tests.conftest import CORPORA
from tests.test_corpora import _open_bytes, corpus_files

Outcome = tuple[str, str | None, str | None, str | None]

QUOTE_SETTINGS: list[str | None] = [AUTO, '"', "'", None]


def _outcome(sample: bytes, quote: str | None, *, is_complete: bool) -> Outcome:
    try:
        dialect = sniff_dialect(sample, quote=quote, is_complete=is_complete, path="f.csv")
    except ParseError as exc:
        return ("error", str(exc), exc.hint, None)
    return ("dialect", dialect.delimiter, dialect.quote, dialect.evidence)


def _both(
    monkeypatch: pytest.MonkeyPatch, sample: bytes, quote: str | None, *, is_complete: bool
) -> tuple[Outcome, Outcome]:
    fast = _outcome(sample, quote, is_complete=is_complete)
    with monkeypatch.context() as patch:
        patch.setattr(sniff, "_header_width", lambda text, delimiter, quote: 2)
        full = _outcome(sample, quote, is_complete=is_complete)
    return fast, full


_PIECES = [
    "a", "bb", "1", "2.5", " ", "", "x y", '"', "'", '""', '"q,t"', "'q;t'", '"a\nb"',
    ",", ";", "\t", "|", "\r", "\n", "\r\n", "\ufeff", "é", "\x00", "\\", "\u2028",
    '"a\nb,c;d|e\tf"', "'a\rb,c;d|e\tf'", '"a,b\r\n', "'a;b\n",
]  # fmt: skip


def _random_sample(rng: random.Random) -> bytes:
    """Records of a random width on a random delimiter, spoilt by random pieces."""
    delimiter = rng.choice([",", ";", "\t", "|", " "])
    width = rng.randint(1, 5)
    lines = []
    for _ in range(rng.randint(0, 30)):
        fields = [rng.choice(_PIECES[:6]) for _ in range(width + rng.choice([0, 0, 0, 0, 1, -1]))]
        line = delimiter.join(fields)
        if rng.random() < (0.6 if not lines else 0.3):  # a hostile piece anywhere in the line
            at = rng.randint(0, len(line))
            line = line[:at] + rng.choice(_PIECES) + line[at:]
        lines.append(line)
    breaks = ["\n", "\r\n", "\r"]
    text = "".join(line + rng.choice(breaks) for line in lines)
    if rng.random() < 0.2:
        text = rng.choice(["\n", "\r\n\r\n", "\r", " \n"]) + text  # blank lines first
    if rng.random() < 0.1:
        text = "\ufeff" + text
    data = text.encode("utf-8")
    if rng.random() < 0.2:
        data = data[: rng.randint(0, len(data))]  # a sample that ends anywhere
    if rng.random() < 0.05:
        data = b"\xff" + data  # not UTF-8: decoded with U+FFFD
    return data


def _same(fast: Outcome, full: Outcome) -> bool:
    """Equal outcomes; where only ',' split the header, its evidence says so instead."""
    if fast[0] == "dialect" and (fast[3] or "").startswith("only ',' splits the header"):
        return fast[:3] == full[:3] and full[0] == "dialect"
    return fast == full


def test_generated_samples_are_sniffed_as_without_the_shortcut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(12)
    shortcuts = sole_comma = 0
    for _ in range(3000):
        sample = _random_sample(rng)
        quote = rng.choice(QUOTE_SETTINGS)
        is_complete = rng.random() < 0.5
        fast, full = _both(monkeypatch, sample, quote, is_complete=is_complete)
        assert _same(fast, full), (sample, quote, is_complete)
        text = sample.decode("utf-8", "replace").removeprefix("\ufeff")
        shortcuts += sniff._header_width(text, ";", '"') < 2
        sole_comma += fast[0] == "dialect" and (fast[3] or "").startswith("only ','")
    assert shortcuts > 1000  # the shortcut was taken, not only the full computation
    assert sole_comma > 300  # and the sole-',' one too


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2\n",  # the usual file: ';', TAB and '|' are skipped
        '"a","b"\n1,2\n',  # a quoted header (the benchmark's files)
        "\n\r\n\ra;b\r1;2\r",  # blank lines first, a lone CR ends lines
        '"a|b";c\n1|2;3\n',  # a delimiter inside a quoted header field
        '"a\nb|c";d\n1|2;3\n',  # a header field over two lines
        'x"a\nb|c",d\n1|2,3\n',  # a quote in mid-field: no quoted part
        '"a\nb|c\n1|2\n',  # a quote never closed: the header is the whole sample
        "a'b|c\n'x\ny'|z\n",  # a quote that only the "'" reading sees
        "a\n1\n2\n",  # one column: no delimiter fits, ',' as COPY reads CSV
        "a,b,c\n1\n2\n3;4\n5,6,7\n",  # only ',' splits the header: ',' though records are ragged
        "a,b;c\n1,2;3\n",  # ',' and ';' both split the header: the records decide
        "a,b|c\n1,2|3\n",  # two delimiters tie: the error names both
        "",
        "\n\n",
    ],
)
@pytest.mark.parametrize("quote", QUOTE_SETTINGS)
def test_edge_samples_are_sniffed_as_without_the_shortcut(
    monkeypatch: pytest.MonkeyPatch, text: str, quote: str | None
) -> None:
    for is_complete in (False, True):
        fast, full = _both(monkeypatch, text.encode(), quote, is_complete=is_complete)
        assert _same(fast, full)


def _corpus_samples() -> list[Path]:
    if not CORPORA.is_dir():
        return []
    return [
        path
        for corpus in ("duckdb", "frictionless-py", "vega-datasets", "Rdatasets")
        for path in corpus_files(corpus)
        if path.name.lower().endswith((".csv", ".tsv", ".txt"))
    ]


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is absent")
def test_corpus_files_are_sniffed_as_without_the_shortcut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = _corpus_samples()
    assert paths
    for number, path in enumerate(paths):
        sample, is_complete = read_sample(io.BytesIO(_open_bytes(path)))
        # Every file with "auto"; every fifth with each explicit quote too (time).
        quotes = QUOTE_SETTINGS if number % 5 == 0 else [AUTO]
        for quote in quotes:
            fast, full = _both(monkeypatch, sample, quote, is_complete=is_complete)
            assert _same(fast, full), (path, quote)


def _first_record_width(text: str, delimiter: str, quote: str | None) -> int:
    try:
        for row in sniff._reader(text, delimiter, quote):
            if row:
                return len(row)
    except csv.Error:
        pass
    return 0


def test_the_header_width_is_the_first_records_whole_samples_read() -> None:
    # _header_width reads only the first line when the first record ends in it.
    rng = random.Random(5)
    for _ in range(3000):
        text = _random_sample(rng).decode("utf-8", "replace").removeprefix("\ufeff")
        for delimiter in sniff.CANDIDATE_DELIMITERS:
            for quote in ('"', "'", None):
                expected = _first_record_width(text, delimiter, quote)
                assert sniff._header_width(text, delimiter, quote) == expected, (text, delimiter)


@pytest.mark.parametrize(
    "text",
    [
        '"a","b","c"\n1,2,3\n',  # quoted whole: read off the line
        '"a,b",c\n1,2\n',  # a delimiter inside a quoted field
        '"a\nb",c\n1,2\n',  # a quoted field over two lines
        '"a""b",c\n1,2\n',  # a doubled quote
        ' "a",b\n1,2\n',  # a quote after a space: not a quoted field
        '"a"b,c\n1,2\n',  # text after the closing quote
        '"",x\r\n1,2\r\n',  # an empty quoted field, CRLF
        '"a";"b"|c\n',  # quoted whole on one delimiter, not on another
        "'a','b'\n1,2\n",
    ],
)
def test_quoted_header_lines_are_as_wide_as_the_reader_reads_them(text: str) -> None:
    for delimiter in sniff.CANDIDATE_DELIMITERS:
        for quote in ('"', "'", None):
            expected = _first_record_width(text, delimiter, quote)
            assert sniff._header_width(text, delimiter, quote) == expected, (delimiter, quote)
