"""The delimiter and quote of a CSV file, told from a sample when the config says "auto".

The rule follows DuckDB's sniffer (src/execution/operator/csv_scanner/sniffer/
dialect_detection.cpp) and Python's ``csv.Sniffer``: each candidate dialect
splits the sample, and the field counts are the evidence. A candidate *fits*
when the header splits into two or more fields and at least
``MIN_CONSISTENT_SHARE`` of the sample's records have that many fields too.

* One delimiter fits: it is the file's.
* Several fit: the one that fits more records wins, then the one that splits
  them into more fields (as DuckDB: a tab file whose every record holds one
  comma); a tie in both is an error naming them (the sample supports both
  readings, and a wrong guess loads wrong rows).
* None fits (one column, or ragged throughout): ``,`` as COPY reads CSV, so a
  one-column file, or a ``,`` file with bad rows, loads exactly as before.

The quote is ``"`` unless the sample has no ``"`` and splitting on ``'`` as the
quote fits strictly more records (``'a, b'`` holding the delimiter). An
explicit ``csv.delimiter`` is used as written and nothing is sniffed (an
"auto" quote is then ``"``); an explicit ``csv.quote`` is used as written; a
``.tsv`` file keeps TAB. Every chunk of a split file reads the file's first bytes, so
all of them get the same answer.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO

from pgingest.config import AUTO, CsvOptions
from pgingest.discover import SourceFile
from pgingest.errors import ParseError

__all__ = [
    "CANDIDATE_DELIMITERS",
    "Dialect",
    "read_sample",
    "sniff_dialect",
    "sniff_file_dialect",
]

logger = logging.getLogger(__name__)

# The delimiters tried, in the order a tie in evidence would be listed (as DuckDB's list).
CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
# COPY's own defaults (FORMAT csv): what "auto" falls back to without evidence.
DEFAULT_DELIMITER = ","
DEFAULT_QUOTE = '"'
# 16 KiB holds a few hundred records of a typical file (DuckDB samples 20,480
# rows; Python's docs pass 1 KiB): enough evidence. Each candidate that splits
# the header parses the sample once: 64 KiB took ~60 ms for the four delimiters
# on a busy 2-core machine, 16 KiB a quarter of that, once per file reader.
SNIFF_BYTES = 16 << 10
# The sample grows (up to MAX_SNIFF_BYTES) until it holds this many line breaks,
# so a wide header still comes with records to compare it with.
MIN_SNIFF_LINES = 20
MAX_SNIFF_BYTES = 1 << 20
# Records looked at, at most (a file of very short records).
SNIFF_RECORDS = 1000
# A candidate fits when this share of the sample's records split into the
# header's number of fields: a few bad rows (rejected later) do not hide the
# delimiter, while a wrong delimiter splits most records differently.
MIN_CONSISTENT_SHARE = 0.9


@dataclass(frozen=True)
class Dialect:
    """How a delimited file is split; ``evidence`` says why, when it was sniffed."""

    delimiter: str
    quote: str | None
    evidence: str | None = None  # None: taken from the config (or TSV's TAB), not sniffed

    @property
    def is_sniffed(self) -> bool:
        """Whether the sample decided it (the config said "auto")."""
        return self.evidence is not None

    @property
    def is_default(self) -> bool:
        """Whether it is COPY's CSV dialect (``,`` and ``"``)."""
        return self.delimiter == DEFAULT_DELIMITER and self.quote == DEFAULT_QUOTE

    def describe(self) -> str:
        """``delimiter ';', quote '"'``."""
        quote = "none" if self.quote is None else repr(self.quote)
        return f"delimiter {self.delimiter!r}, quote {quote}"


@dataclass(frozen=True)
class _Fit:
    """How one candidate dialect splits the sample."""

    delimiter: str
    quote: str | None
    width: int  # fields in the header (the first record)
    consistent: int  # records after it with that many fields
    records: int  # records after the header

    @property
    def fits(self) -> bool:
        if self.width < 2:
            return False
        return self.records == 0 or self.consistent >= MIN_CONSISTENT_SHARE * self.records

    def describe(self) -> str:
        if self.records == 0:
            return f"{self.delimiter!r} ({self.width} fields in the header, no records after it)"
        return (
            f"{self.delimiter!r} ({self.width} fields; "
            f"{self.consistent} of {self.records} records match)"
        )


# The csv module refuses a longer field (its reader then gives no width, as here).
_FIELD_LIMIT = csv.field_size_limit()


def _reader(text: str, delimiter: str, quote: str | None) -> Iterator[list[str]]:
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar=quote or '"',
        quoting=csv.QUOTE_NONE if quote is None else csv.QUOTE_MINIMAL,
        doublequote=True,
        strict=False,
    )


def _records(text: str, delimiter: str, quote: str | None, *, is_complete: bool) -> list[list[str]]:
    records: list[list[str]] = []
    try:
        for row in _reader(text, delimiter, quote):
            if row:  # blank lines are not records (pyarrow skips them too)
                records.append(row)
            if len(records) > SNIFF_RECORDS:
                break
    except csv.Error:
        pass  # a field past the csv module's limit: judge on what came before
    if not is_complete and len(records) > 1:
        records.pop()  # the sample may end inside the last record
    return records[:SNIFF_RECORDS]


def _first_line(text: str) -> str | None:
    """The text's first line (with its line feed), unless there is none or it is blank."""
    end = text.find("\n")
    line = text[: end + 1]
    return line if end >= 0 and line.strip("\r\n") else None


def _line_width(line: str, delimiter: str, quote: str | None) -> int | None:
    """The fields of the first record, read off its first line, when that is exact; else None.

    Exact when the reader would end the record at the line's end and split it
    at each delimiter: no CR or NUL inside, no field past the reader's limit,
    and each field either free of the quote or quoted whole (``"name"``, no
    quote inside), so no quoted field runs on past the line.
    """
    stripped = line.rstrip("\r\n")
    if "\r" in stripped or "\x00" in stripped or len(stripped) >= _FIELD_LIMIT:
        return None
    if quote is None or quote not in stripped:
        return stripped.count(delimiter) + 1
    fields = stripped.split(delimiter)
    for field in fields:
        if quote in field and not (
            len(field) >= 2 and field[0] == quote == field[-1] and quote not in field[1:-1]
        ):
            return None
    return len(fields)


def _header_width(text: str, delimiter: str, quote: str | None) -> int:
    """The fields of the first record, as ``_records`` reads it (0: none, or not readable)."""
    line = _first_line(text)
    if line is not None:
        # Read off the first line alone (issue 12: the csv module's reader copies all
        # of the text it is given, and a header took four of its passes).
        width = _line_width(line, delimiter, quote)
        if width is not None:
            return width
        if quote is None or quote not in line:
            text = line  # no quote: the first record ends with the line
    try:
        for row in _reader(text, delimiter, quote):
            if row:
                return len(row)
    except csv.Error:
        pass
    return 0


def _fit(text: str, delimiter: str, quote: str | None, *, is_complete: bool) -> _Fit:
    width = _header_width(text, delimiter, quote)
    if width < 2:
        # It cannot fit, and only a fitting candidate's counts are ever shown: the records
        # after the header are not split (issue 12: splitting the sample on each absent
        # delimiter was ~1.4 ms of a 400-row file's ~7.8 ms).
        return _Fit(delimiter, quote, width, 0, 0)
    records = _records(text, delimiter, quote, is_complete=is_complete)
    if not records:
        return _Fit(delimiter, quote, 0, 0, 0)
    width = len(records[0])
    consistent = sum(1 for record in records[1:] if len(record) == width)
    return _Fit(delimiter, quote, width, consistent, len(records) - 1)


def _best_quote(text: str, delimiter: str, quotes: Sequence[str | None], is_complete: bool) -> _Fit:
    """The delimiter's fit with ``"``, or with ``'`` when that fits strictly more records."""
    fits = [_fit(text, delimiter, quote, is_complete=is_complete) for quote in quotes]
    best = fits[0]
    for other in fits[1:]:
        if other.fits and (not best.fits or other.consistent > best.consistent):
            best = other
    return best


def _quote_candidates(text: str, quote: str | None) -> list[str | None]:
    if quote != AUTO:
        return [quote]
    if DEFAULT_QUOTE not in text and "'" in text:
        return [DEFAULT_QUOTE, "'"]
    return [DEFAULT_QUOTE]


def _sole_default_delimiter(text: str, quotes: Sequence[str | None]) -> Dialect | None:
    """COPY's ``,`` when it is the only candidate that splits the header, else None.

    ``,`` is then the answer whether or not the records fit it (no other
    candidate can fit, and none fitting falls back to ``,``), so the records
    are not split at all: splitting them was ~0.3 ms of a 400-row file's
    client time (issue 12). With two quote candidates the full comparison runs.
    """
    if len(quotes) != 1:
        return None
    widths = {d: _header_width(text, d, quotes[0]) for d in CANDIDATE_DELIMITERS}
    if widths[DEFAULT_DELIMITER] < 2 or any(
        width >= 2 for d, width in widths.items() if d != DEFAULT_DELIMITER
    ):
        return None
    evidence = f"only {DEFAULT_DELIMITER!r} splits the header ({widths[DEFAULT_DELIMITER]} fields)"
    return Dialect(DEFAULT_DELIMITER, quotes[0], evidence)


def sniff_dialect(
    sample: bytes,
    *,
    quote: str | None = AUTO,
    is_complete: bool = False,
    path: str | None = None,
) -> Dialect:
    """The dialect of a file from its first bytes (after skipped lines); see the module doc.

    The delimiter is sniffed, and the quote too when it is ``"auto"``.
    ``is_complete``: the sample is the whole file (its last record is whole).
    Raises ParseError when two delimiters fit the sample equally well.
    """
    text = sample.decode("utf-8", "replace").removeprefix("\ufeff")
    delimiters = CANDIDATE_DELIMITERS
    quotes = _quote_candidates(text, quote)
    sole = _sole_default_delimiter(text, quotes)
    if sole is not None:
        return sole
    fits = [_best_quote(text, d, quotes, is_complete) for d in delimiters]
    good = sorted((f for f in fits if f.fits), key=lambda f: (-f.consistent, -f.width))
    if not good:
        chosen = DEFAULT_DELIMITER
        first = fits[delimiters.index(chosen)]
        evidence = (
            f"no delimiter splits the header and the records alike; {chosen!r} as COPY reads CSV"
        )
        return Dialect(chosen, first.quote if quote == AUTO else quote, evidence)
    if len(good) > 1 and (good[0].consistent, good[0].width) == (good[1].consistent, good[1].width):
        tied = [f for f in good if (f.consistent, f.width) == (good[0].consistent, good[0].width)]
        raise ParseError(
            "cannot tell the delimiter: the first records split alike on "
            + " and on ".join(f.describe() for f in tied),
            hint='set it on the source, e.g. "csv": {"delimiter": '
            + repr(tied[0].delimiter).replace("'", '"')
            + "}",
            path=path,
        )
    best = good[0]
    evidence = f"{best.consistent} of {best.records} records have the header's {best.width} fields"
    return Dialect(best.delimiter, best.quote, evidence)


def read_sample(stream: IO[bytes], *, skip_lines: int = 0) -> tuple[bytes, bool]:
    """The bytes sniffed after ``skip_lines`` lines, and whether they are the whole rest.

    SNIFF_BYTES, or more (up to MAX_SNIFF_BYTES) until MIN_SNIFF_LINES line breaks.
    """
    for _ in range(skip_lines):
        if not stream.readline():
            return b"", True
    sample = stream.read(SNIFF_BYTES)
    while sample.count(b"\n") < MIN_SNIFF_LINES and len(sample) < MAX_SNIFF_BYTES:
        more = stream.read(SNIFF_BYTES)
        if not more:
            return sample, True
        sample += more
    return sample, not stream.read(1)


def sniff_file_dialect(
    file: SourceFile,
    options: CsvOptions,
    *,
    is_tsv: bool,
    open_text: Callable[[SourceFile], IO[bytes]],
) -> Dialect:
    """A file's dialect: as configured, TAB for TSV, or sniffed from its first bytes.

    ``open_text(file)`` opens the file's text as UTF-8 bytes (its encoding
    already resolved); a chunk of a split file is sniffed from the whole
    file's start, so every chunk reads alike.
    """
    delimiter, quote = options.delimiter, options.quote
    if is_tsv and delimiter == AUTO:
        delimiter = "\t"
    if delimiter != AUTO:  # as written (or TSV's TAB): nothing is sniffed, the quote neither
        return Dialect(delimiter, DEFAULT_QUOTE if quote == AUTO else quote)
    whole = file if file.chunk is None else replace(file, chunk=None)
    with open_text(whole) as stream:
        sample, is_complete = read_sample(stream, skip_lines=options.skip_rows)
    dialect = sniff_dialect(sample, quote=quote, is_complete=is_complete, path=file.path)
    logger.debug("%s: %s (sniffed: %s)", file.path, dialect.describe(), dialect.evidence)
    return dialect
