"""CSV and TSV with pyarrow's streaming, multi-threaded reader.

Two styles of delimited text (``csv.style``): ``csv``, COPY's CSV format, and
``text``, COPY's text format (the default for TSV: ``\\N`` is NULL, backslash
escapes, no quoting; see text_format.py). In the CSV style, NULL follows
PostgreSQL's ``COPY ... (FORMAT csv)``: an unquoted value listed
in ``null`` (by default the empty string) is NULL; a quoted value never is, so
``""`` is the empty string. Quoted newlines, CRLF, a UTF-8 BOM and any
single-character delimiter, quote and escape are read as COPY reads them.
Text in another encoding (declared, or told by a UTF-16/32 byte-order mark)
reaches pyarrow transcoded to UTF-8 (stream.py). A file with one column keeps
its blank lines, as COPY does: NULL in CSV, the empty string in text.

The delimiter and quote are the config's, TAB for TSV, or sniffed from the
file's first records when they are "auto" (the default; parse/sniff.py).

A record longer than pyarrow's block fails its read; the careful mode then
reads again with blocks four times larger, up to MAX_BLOCK_BYTES.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from pgingest.config import CsvOptions
from pgingest.convert.text import BOOLEAN_FALSE, BOOLEAN_TRUE
from pgingest.discover import SourceFile
from pgingest.errors import ParseError, SourceError
from pgingest.infer import SampleColumn
from pgingest.parse import Location, ReadPlan, SkippedRecord, SourceBatch, rebatch
from pgingest.parse.csv_exact import CsvRules, exact_rows, has_mid_field_quotes
from pgingest.parse.csv_parts import (
    CarefulReading,
    CarefulRules,
    LineTap,
    PyarrowInput,
    arrow_batches,
    as_binary,
    skip_row,
)
from pgingest.parse.encoding import TextEncoding, resolve_encoding
from pgingest.parse.header_names import distinct_names
from pgingest.parse.record_count import count_records
from pgingest.parse.sniff import Dialect, sniff_file_dialect
from pgingest.parse.stream import (
    local_path,
    open_binary,
    open_utf8_binary,
    open_utf8_stream,
    printable,
    read_whole_if_small,
    source_error,
)
from pgingest.parse.text_format import (
    TEXT_NULL,
    FieldEscapeError,
    decode_escapes,
    decode_text_batch,
)
from pgingest.parse.text_rows import TextRow, text_batches

__all__ = ["CsvReader", "Records"]

logger = logging.getLogger(__name__)

# pyarrow reads many blocks ahead of the consumer, so memory grows with the
# block size: on the 2M-row benchmark, 1 MiB blocks held ~39 MB of Arrow memory
# per file being read and 256 KiB blocks ~12 MB, and loaded as fast or faster.
BLOCK_BYTES = 256 << 10
# A block must hold at least one whole record; the header is peeked with a
# block this large so that wide or long headers still fit.
HEADER_BLOCK_BYTES = 1 << 20
# A record must fit in one block: a longer one makes the careful mode read again
# with blocks 4x larger, up to 64 MiB (pyarrow holds a few blocks at once, so
# this bounds memory per file; a 2 MB value, which COPY loads, takes one step).
BLOCK_GROWTH = 4
MAX_BLOCK_BYTES = 64 << 20
# A file this small (the ones loaded several to a transaction, pipeline/unit/group.py)
# is read into memory once; the encoding check, the dialect sniff, the header and the
# rows are then read from those bytes. On 1,000 files of 400 rows, opening each file
# four times and its header with a parse of the whole first block cost ~31 % of the
# workers' time (issue 12). report/position.py does not probe files this small.
WHOLE_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Records:
    """A small file's records as text (after its header line), and how many there are."""

    text: bytes
    count: int


def _mark_column(plan: ReadPlan) -> str | None:
    """A column the plan reads as text (read_together's end marks go in it)."""
    for column in plan.columns:
        if column.native_type is None or column.native_type == pa.string():
            return column.name
    return None


def _both_cases(words: list[str]) -> list[str]:
    return sorted({v for w in words for v in (w, w.upper(), w.capitalize())})


class CsvReader:
    """Reads a delimited text file."""

    def __init__(
        self,
        file: SourceFile,
        options: CsvOptions,
        *,
        is_tsv: bool = False,
        encoding: str | None = None,
        distinct_header: bool = False,
    ) -> None:
        self.file = file
        # create: empty and repeated header names are renamed (parse/header_names.py)
        self._distinct_header = distinct_header
        self._header_warning: str | None = None  # logged once, when the file is read
        self._line_offset = 0
        self._is_tsv = is_tsv
        self._configured = options  # as the config says: the dialect is sniffed by these
        chunk = file.chunk
        if chunk is not None and chunk.start > 0:
            # A later chunk starts at a record, past the header: name its columns.
            options = options.model_copy(
                update={"column_names": list(chunk.header), "header": False, "skip_rows": 0}
            )
            self._line_offset = chunk.first_line - 1
        self.options = options
        self.style = options.style_for(is_tsv=is_tsv)
        # The source's encoding wins; csv.encoding counts only when written in the config.
        if encoding is None and "encoding" in options.model_fields_set:
            encoding = options.encoding
        self._declared_encoding = encoding
        self._names: list[str] | None = None
        self._is_copy_only: bool | None = None  # see _needs_copy_rules
        self._input: PyarrowInput | None = None  # what pyarrow reads of a streamed file

    @cached_property
    def _whole_bytes(self) -> bytes | None:
        """The whole file's bytes, read once, when it is small (None otherwise)."""
        return read_whole_if_small(self.file, WHOLE_FILE_BYTES)

    @cached_property
    def _whole_text(self) -> bytes | None:
        """The whole small file as the UTF-8 text pyarrow reads (None: read the file)."""
        if self._whole_bytes is None or self.encoding != "utf-8":
            return None  # another encoding is transcoded as the file streams (stream.py)
        return self._whole_bytes

    def head(self, size: int) -> bytes:
        """The file's first ``size`` (decompressed) bytes, as stored."""
        if self._whole_bytes is not None:
            return self._whole_bytes[:size]
        try:
            with open_binary(self.file) as raw:
                return raw.read(size)
        except OSError as exc:
            raise source_error(exc, self.file) from exc

    def _open_text(self) -> IO[bytes]:
        """The file's text as UTF-8 bytes, for Python readers."""
        if self._whole_text is not None:
            return io.BytesIO(self._whole_text)
        return open_utf8_binary(self.file, self.encoding)

    @cached_property
    def text_encoding(self) -> TextEncoding:
        """The file's encoding: declared, else told by a byte-order mark, UTF-8, or detected."""
        return resolve_encoding(self.file, self._declared_encoding, content=self._whole_bytes)

    @property
    def encoding(self) -> str:
        """The codec of the file's text."""
        return self.text_encoding.codec

    @cached_property
    def dialect(self) -> Dialect:
        """Delimiter and quote: as configured, TAB for TSV, or sniffed (parse/sniff.py)."""
        dialect = sniff_file_dialect(
            self.file,
            self._configured,
            is_tsv=self._is_tsv,
            open_text=lambda whole: (
                self._open_text() if whole == self.file else open_utf8_binary(whole, self.encoding)
            ),
        )
        if dialect.is_sniffed and (self.file.chunk is None or self.file.chunk.start == 0):
            logger.log(
                logging.DEBUG if dialect.is_default else logging.INFO,
                "%s: %s (sniffed: %s)",
                self.file.path,
                dialect.describe(),
                dialect.evidence,
            )
        return dialect

    @property
    def delimiter(self) -> str:
        """The character between fields."""
        return self.dialect.delimiter

    @property
    def quote(self) -> str | None:
        """The quote character (None: no quoting)."""
        return self.dialect.quote

    @property
    def notes(self) -> tuple[str, ...]:
        """What the run report should say about how the file was read."""
        dialect = self.dialect
        if not dialect.is_sniffed or dialect.is_default:
            return ()
        return (
            f"{self.file.path}: read with {dialect.describe()} (sniffed: {dialect.evidence}); "
            'set "csv": {"delimiter": ...} on the source to choose another',
        )

    # --- options -----------------------------------------------------------------------

    def _read_options(self, *, block_size: int, use_threads: bool) -> pcsv.ReadOptions:
        names = self.options.column_names
        # A file that fits in one block is parsed by one thread either way; starting
        # pyarrow's threads costs ~3 ms per file (issue 12: 400-row files).
        fits_one_block = self.file.compression is None and self.file.size <= block_size
        return pcsv.ReadOptions(
            use_threads=use_threads and not fits_one_block,
            block_size=block_size,
            skip_rows=self.options.skip_rows,
            column_names=names,
            skip_rows_after_names=1 if (names and self.options.header) else 0,
            encoding="utf8",  # other encodings arrive transcoded (open_utf8_stream)
        )

    @property
    def is_text_style(self) -> bool:
        """COPY's text format: backslash escapes, no quoting."""
        return self.style == "text"

    @property
    def _keeps_blank_lines(self) -> bool:
        # COPY reads a blank line as one empty field: a record only for a one-column file
        # (whose header, the first line, is not itself blank: pyarrow skipped that one).
        return self._names is not None and len(self._names) == 1 and self._starts_with_text

    @cached_property
    def _starts_with_text(self) -> bool:
        if not self.options.header or self.options.skip_rows:
            return not self.options.header
        with self._open_text() as raw:
            head = raw.read(4).removeprefix(b"\xef\xbb\xbf")
        return not head.startswith((b"\n", b"\r"))

    def _parse_options(self, handler: Any = None) -> pcsv.ParseOptions:
        quote = None if self.is_text_style else self.quote
        escape = None if self.is_text_style else self.options.escape
        return pcsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=quote if quote is not None else False,
            double_quote=quote is not None and escape is None,
            escape_char=escape if escape is not None else False,
            newlines_in_values=not self.is_text_style,
            ignore_empty_lines=not self._keeps_blank_lines,
            invalid_row_handler=handler,
        )

    @property
    def _null_values(self) -> list[str]:
        if self.is_text_style and "null" not in self.options.model_fields_set:
            return [TEXT_NULL]
        return list(self.options.null)

    def _convert_options(
        self, include: list[str], types: dict[str, pa.DataType]
    ) -> pcsv.ConvertOptions:
        return pcsv.ConvertOptions(
            include_columns=include,
            column_types=types,
            null_values=self._null_values,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=_both_cases(BOOLEAN_TRUE),
            false_values=_both_cases(BOOLEAN_FALSE),
        )

    def _open(
        self,
        plan_names: list[str],
        types: dict[str, pa.DataType],
        *,
        careful: bool,
        handler: Any = None,
        block_size: int = BLOCK_BYTES,
        keep_arrow_invalid: bool = False,
        text: bytes | None = None,
    ) -> pcsv.CSVStreamingReader:
        """pyarrow's reader; ``keep_arrow_invalid``: the caller grows the block on that error.

        The text pyarrow reads always ends in a line break: pyarrow cannot read a
        file that is only a header without one, and reads a last record without
        one differently (below). ``text``: read these bytes instead of the file.
        """
        if text is None:
            text = self._whole_text
        # pyarrow reads a last record without a line break differently: in `1,"a",` the
        # empty last field becomes "" where COPY (and pyarrow, given the line break) reads
        # NULL. So the text always ends in one (a line break more changes nothing else).
        if text is not None:
            if text and not text.endswith(b"\n"):
                text += b"\n"
            # One block: pyarrow can lose the LF of a CRLF cut between blocks (PyarrowInput).
            block_size = max(block_size, len(text) + 1)
        stream: pa.NativeFile
        if text is None:
            self._input = PyarrowInput(
                open_utf8_stream(self.file, self.encoding),
                final_newline=True,  # added only where the text lacks one
                quote=self.quote.encode() if self._checks_quotes and self.quote else None,
            )
            stream = pa.PythonFile(self._input, mode="r")
        else:
            stream = pa.BufferReader(text)
        try:
            return pcsv.open_csv(
                stream,
                read_options=self._read_options(block_size=block_size, use_threads=not careful),
                parse_options=self._parse_options(handler),
                convert_options=self._convert_options(plan_names, types),
            )
        except pa.ArrowInvalid as exc:
            stream.close()
            if keep_arrow_invalid:
                raise
            raise self._error(exc) from exc
        except (OSError, UnicodeDecodeError, pa.ArrowKeyError) as exc:
            stream.close()
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> SourceError | ParseError:
        text = str(exc).strip()
        if isinstance(exc, OSError):
            return source_error(exc, self.file)
        if isinstance(exc, UnicodeDecodeError):
            return ParseError(
                f"cannot decode the file as {self.encoding}: {exc.reason} at byte {exc.start}",
                hint='set "encoding" on the source, e.g. "latin-1" or "utf-16"',
                path=self.file.path,
            )
        first = printable(text.splitlines()[0]) if text else type(exc).__name__
        return ParseError(f"cannot parse CSV: {first}", path=self.file.path)

    # --- columns -----------------------------------------------------------------------

    def column_names(self, *, complete: bool = False) -> list[str]:
        """The header's names (or the configured column_names), checked for duplicates."""
        if self._names is None:
            self.dialect  # noqa: B018 - a sample that fits two delimiters fails here, once
            if self.options.column_names:
                names = list(self.options.column_names)
            elif os.path.getsize(local_path(self.file)) == 0:
                raise ParseError(
                    "the file is empty: it has no header line",
                    hint="remove the file, or set header: false if empty files are expected",
                    path=self.file.path,
                )
            else:
                names = self._distinct(self._header_names())
            self._check_names(names)
            self._names = names
        return list(self._names)

    def _distinct(self, names: list[str]) -> list[str]:
        if not self._distinct_header:
            return names
        header = distinct_names(names)
        if not header.changes:
            return names
        self._header_warning = header.warning
        # Read by the new names: the header line is then skipped as a record.
        self.options = self.options.model_copy(update={"column_names": list(header.names)})
        return list(header.names)

    @cached_property
    def _first_line(self) -> bytes | None:
        """A small file's first line, when no escape or lone CR in it and it is not blank.

        Such a line holds the whole first record, the header, unless a quote
        in it opens a field that runs past its line break (see _header_names).
        """
        text = self._whole_text
        if text is None or self.options.skip_rows:
            return None
        end = text.find(b"\n")
        if end < 0:
            return None
        line = text[: end + 1]
        if not line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n") or b"\r" in line[:-2]:
            return None
        escape = self.options.escape
        if not self.is_text_style and escape is not None and escape.encode() in line:
            return None
        return line

    @property
    def _header_quote(self) -> bytes | None:
        quote = None if self.is_text_style else self.quote
        return None if quote is None else quote.encode()

    def _split_header_line(self, line: bytes) -> list[str] | None:
        """The names of a header line without quotes or escapes, split as pyarrow splits it.

        Opening pyarrow's reader costs ~1 ms however short its input (issue 12);
        the line's own split is exact when its delimiter is one byte and each
        field is either free of quotes or quoted whole with no quote, delimiter
        or line break inside (``"name"``). None: let pyarrow read it (a doubled
        quote, a quoted delimiter or line break, a quote in mid-field, invalid UTF-8).
        """
        delimiter, quote = self.delimiter.encode(), self._header_quote
        if len(delimiter) != 1:
            return None
        text = line.removeprefix(b"\xef\xbb\xbf").removesuffix(b"\n").removesuffix(b"\r")
        fields = text.split(delimiter)
        if quote is not None and quote in text:
            if len(quote) != 1:
                return None
            unquoted = []
            for field in fields:
                if quote not in field:
                    unquoted.append(field)
                    continue
                inner = field[1:-1]
                if len(field) < 2 or field[:1] != quote or field[-1:] != quote or quote in inner:
                    return None
                unquoted.append(inner)
            fields = unquoted
        try:
            return [field.decode("utf-8") for field in fields]
        except UnicodeDecodeError:
            return None

    @cached_property
    def _names_of_first_line(self) -> list[str] | None:
        """The header's names split off its first line, when that is exact (else None)."""
        first_line = self._first_line
        return None if first_line is None else self._split_header_line(first_line)

    def _header_names(self) -> list[str]:
        block = HEADER_BLOCK_BYTES
        first_line = self._first_line
        names_of_line = self._names_of_first_line
        if names_of_line is not None:
            names = names_of_line
            return [self._header_name(name) for name in names] if self.is_text_style else names
        # pyarrow reads the first line alone when no quote in it can run past its end.
        quote = self._header_quote
        header_line = first_line if quote is None or quote not in (first_line or b"") else None
        while True:
            try:
                reader = self._open(
                    [], {}, careful=False, block_size=block, handler=skip_row, text=header_line
                )
            except ParseError:
                if header_line is not None:  # said as the whole file's read says it
                    header_line = None
                    continue
                if block >= MAX_BLOCK_BYTES:
                    raise
                block *= BLOCK_GROWTH  # a header (or first record) longer than the block
                continue
            try:
                names = list(reader.schema.names)
            except UnicodeDecodeError as exc:
                raise ParseError(
                    f"the header is not valid {self.encoding}: {exc.reason}",
                    hint='set "encoding" on the source, e.g. "latin-1" or "cp1252"',
                    path=self.file.path,
                    line=self.options.skip_rows + 1,
                ) from exc
            finally:
                reader.close()
            return [self._header_name(name) for name in names] if self.is_text_style else names

    def _header_name(self, name: str) -> str:
        """A header field of the text style, its escapes decoded as in every other line."""
        try:
            return decode_escapes(name.encode("utf-8")).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(
                f"the header name {printable(name)!r} cannot be read: {exc}",
                path=self.file.path,
                line=self.options.skip_rows + 1,
            ) from exc

    def _check_names(self, names: list[str]) -> None:
        seen: dict[str, int] = {}
        for position, name in enumerate(names, start=1):
            if name == "":
                raise ParseError(
                    f"column {position} of the header has no name",
                    hint="name it in the file, or give csv.column_names",
                    path=self.file.path,
                    line=self.options.skip_rows + 1,
                )
            if name in seen:
                raise ParseError(
                    f"the header names column {name!r} twice (columns {seen[name]} and {position})",
                    hint="rename one in the file, or give csv.column_names",
                    path=self.file.path,
                    line=self.options.skip_rows + 1,
                )
            if "\x00" in name:
                raise ParseError(
                    f"column {position} of the header has a NUL byte in its name: "
                    f"{printable(name)!r}",
                    hint="the file is not text, or its encoding is not set right",
                    path=self.file.path,
                    line=self.options.skip_rows + 1,
                )
            seen[name] = position

    # --- small files read together ------------------------------------------------------

    def records_to_read_together(self) -> Records | None:
        """A small file's records as text another file's header can stand before, and their count.

        For files of a group that pyarrow parses as one text (``read_together``).
        None when the file is read alone: not small, not plain UTF-8, COPY's text
        style, an escape character, a header that is not one plain line, fewer
        than two columns (blank lines are records then), a quote in mid-field,
        or a body whose count parse/record_count.py cannot be sure of.
        """
        text, first_line = self._whole_text, self._first_line
        options = self.options
        if (
            text is None
            or first_line is None
            or self.text_encoding.how == "mostly utf-8"
            or self.is_text_style
            or options.escape is not None
            or not options.header
            or options.skip_rows
            or options.column_names
            or len(self.delimiter.encode()) != 1
            or (self.quote is not None and len(self.quote.encode()) != 1)
            or len(self.column_names()) < 2
            or self._names_of_first_line is None
            or self._is_copy_only
        ):
            return None
        body = text[len(first_line) :]
        # The header line's quotes are closed (split above): the count also finds a
        # quote in mid-field, in the one scan.
        count = count_records(body, quote=self.quote, delimiter=self.delimiter)
        if count is None:
            return None
        if self._checks_quotes:
            self._is_copy_only = False
        return Records(body if body.endswith(b"\n") or not body else body + b"\n", count)

    def can_read_together(self, plan: ReadPlan) -> bool:
        """Whether files read with ``plan`` can be told apart in one text (``read_together``):
        a column read as text holds each file's end mark, a NULL spelling fills the rest."""
        return _mark_column(plan) is not None and self._mark_null is not None

    @property
    def _mark_null(self) -> str | None:
        """A NULL spelling a mark row can use: unquoted, on one line, without the delimiter."""
        unsafe = {self.delimiter, "\n", "\r", *(self.quote or "")}
        return next((null for null in self._null_values if not set(null) & unsafe), None)

    def read_together(
        self, bodies: list[bytes], plan: ReadPlan
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        """The rows of ``bodies`` (``records_to_read_together``'s, of files whose header
        names, dialect and plan are this file's), parsed as one text under this file's
        header, each with the index of its body.

        After each body comes a mark row: a random token in a column read as text
        (``can_read_together``), NULL elsewhere. Rows up to a mark are that body's;
        the marks are dropped. A body must end with its last record closed, so every
        mark is found, and exactly one per body, or the read fails.
        """
        column, null = _mark_column(plan), self._mark_null
        assert column is not None
        assert null is not None
        assert self._first_line is not None
        token = "pgingest" + uuid.uuid4().hex
        fields = [token if name == column else null for name in self.column_names()]
        mark = (self.delimiter.join(fields) + "\n").encode()
        text = self._first_line + b"".join(body + mark for body in bodies)
        types = {c.name: c.native_type or pa.string() for c in plan.columns}
        reader = self._open(plan.names, types, careful=False, text=text)
        body = 0
        try:
            for batch in arrow_batches(reader, self._error):
                marks = pc.fill_null(pc.equal(batch.column(column), token), False)
                start = 0
                for row in np.flatnonzero(marks.to_numpy(zero_copy_only=False)).tolist():
                    if row > start:
                        yield body, batch.slice(start, row - start)
                    body, start = body + 1, row + 1
                if start < batch.num_rows:
                    yield body, batch.slice(start)
        finally:
            reader.close()
        if body != len(bodies):
            raise ParseError(
                f"{len(bodies)} files read together showed {body} ends",
                hint="this is a bug in pgingest; please report it",
                path=self.file.path,
            )

    # --- batches -----------------------------------------------------------------------

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of the plan's columns: typed where pyarrow can (fast), else bytes (careful)."""
        if self._header_warning is not None:
            logger.warning("%s: %s", self.file.path, self._header_warning)
            self._header_warning = None
        self.column_names()  # whether blank lines are records depends on the column count
        if self._small_file_quote_is_open():
            raise self._open_quote_error()
        if self._is_copy_only:
            return rebatch(self._read_by_copy_rules(plan, start=0), plan.batch_rows)
        if plan.careful:
            return rebatch(self._read_careful(plan), plan.batch_rows)
        return rebatch(self._read_fast(plan), plan.batch_rows)

    def _read_fast(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        types = {c.name: c.native_type or pa.string() for c in plan.columns}
        reader = self._open(plan.names, types, careful=False)
        record = 0
        try:
            for parsed in arrow_batches(reader, self._error):
                if self._needs_copy_rules(parsed):  # read again, carefully, by COPY's rules
                    raise ParseError("a quote in mid-field", path=self.file.path)
                batch = parsed
                if self.is_text_style:
                    batch = self._decoded(parsed, np.arange(record, record + parsed.num_rows))
                yield SourceBatch(batch, record)
                record += batch.num_rows
            self._check_quotes_closed()
        finally:
            reader.close()

    def _decoded(self, batch: pa.RecordBatch, records: np.ndarray) -> pa.RecordBatch:
        try:
            return decode_text_batch(batch)
        except FieldEscapeError as exc:
            record = int(records[exc.row])
            place = self.locate([record]).get(record)
            raise ParseError(
                f"{exc.reason}, which pgingest does not read as COPY does",
                hint="write a tab or line break in a value as \\t or \\n (as COPY TO does), "
                'or read the file as CSV: "csv": {"style": "csv"}',
                path=self.file.path,
                line=place.line if place else None,
                column=exc.column,
            ) from exc

    def _read_careful(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        # Every value as bytes: pgingest's conversion then finds each bad value,
        # invalid UTF-8 included; ragged rows are collected instead of failing the file.
        types = {c.name: pa.binary() for c in plan.columns}
        schema = pa.schema([(name, pa.binary()) for name in plan.names])
        next_record = 0
        for parsed, records, skipped in self._careful_batches(plan.names, types):
            if self._needs_copy_rules(parsed, skipped):
                for rest in self._read_by_copy_rules(plan, start=next_record):
                    yield as_binary(rest)  # as the batches before
                return
            numbers = [*records.tolist(), *(s.record for s in skipped)]
            next_record = max([next_record - 1, *numbers]) + 1
            batch = parsed
            if self.is_text_style and parsed.num_rows:
                batch = self._decoded(parsed, records)
            if batch.num_rows == 0:
                batch = pa.RecordBatch.from_pylist([], schema=schema)
            first = int(records[0]) if len(records) else 0
            yield SourceBatch(batch, first, records if len(records) else None, tuple(skipped))
        self._check_quotes_closed()

    # --- quotes in mid-field -------------------------------------------------------------

    @property
    def _checks_quotes(self) -> bool:
        quote, delimiter = self.quote, self.delimiter
        return (
            self.style == "csv"
            and quote is not None
            and self.options.escape is None
            and len(quote.encode()) == 1
            and len(delimiter.encode()) == 1
        )

    def _needs_copy_rules(
        self, batch: pa.RecordBatch, skipped: Iterable[SkippedRecord] = ()
    ) -> bool:
        """Whether the file must be read by COPY's rules (checked once a value holds a quote).

        Only a value (or a ragged record, or a header name) holding a quote can
        come from a quote in mid-field, which COPY reads as the start of a quoted part and pyarrow
        as a character.
        """
        if not self._checks_quotes or self._is_copy_only is False:
            return bool(self._is_copy_only)
        quote = self.quote or '"'
        if self._whole_text is not None:
            return self._in_memory_needs_copy_rules()
        texts = [*(record.text for record in skipped), *self.column_names()]
        if not any(quote in text for text in texts) and not any(
            pc.any(pc.match_substring(column, quote)).as_py()
            for column in batch.columns
            if pa.types.is_string(column.type) or pa.types.is_binary(column.type)
        ):
            return False
        return self._scan_for_mid_field_quotes()

    def _in_memory_needs_copy_rules(self) -> bool:
        """_needs_copy_rules for a small file in memory: one scan of its bytes decides.

        Cheaper than looking for the quote in each column of each batch first
        (issue 12). A mid-field quote leaves a quote in a value, so the answer is
        the same.
        """
        assert self._whole_text is not None
        if not self._checks_quotes or self._is_copy_only is False:
            return bool(self._is_copy_only)
        quote = (self.quote or '"').encode()
        if quote not in self._whole_text:
            self._is_copy_only = False
            return False
        return self._scan_for_mid_field_quotes()

    def _check_quotes_closed(self) -> None:
        """After a streamed file's last record: an odd number of quotes leaves a value open.

        pyarrow reads it as if it were closed. A file with a quote in mid-field is
        read again by COPY's rules (which set the open record aside); any other is
        refused, as COPY refuses it. PyarrowInput counts the quotes.
        """
        if self._input is None or not self._input.quotes_open:
            return
        if self._checks_quotes and self._scan_for_mid_field_quotes():
            raise ParseError("a quote in mid-field", path=self.file.path)  # read by COPY's rules
        raise self._open_quote_error()

    def _small_file_quote_is_open(self) -> bool:
        """_check_quotes_closed for a small file, on its bytes before any row is read."""
        text, quote = self._whole_text, self.quote
        if text is None or not self._checks_quotes or quote is None:
            return False
        return bool(text.count(quote.encode()) % 2) and not self._in_memory_needs_copy_rules()

    def _open_quote_error(self) -> ParseError:
        return ParseError(
            "a quoted value is not closed at the end of the file",
            hint="close the quote, or check that the file was written whole",
            path=self.file.path,
        )

    def _scan_for_mid_field_quotes(self) -> bool:
        quote = self.quote or '"'
        with self._open_text() as raw:
            self._is_copy_only = has_mid_field_quotes(raw, delimiter=self.delimiter, quote=quote)
        if self._is_copy_only:
            logger.info(
                "%s: a quote in mid-field (COPY starts a quoted part there): "
                "reading the file by COPY's rules",
                self.file.path,
            )
        return self._is_copy_only

    def _copy_rules_rows(self) -> Iterator[TextRow]:
        rules = CsvRules(
            delimiter=self.delimiter,
            quote=self.quote or '"',
            nulls=frozenset(self._null_values),
            columns=len(self.column_names()),
            keeps_blank_lines=self._keeps_blank_lines,
        )
        with self._open_text() as raw:
            for row in exact_rows(
                raw, rules, skip_lines=self.options.skip_rows, has_header=self.options.header
            ):
                yield dataclasses.replace(row, line=row.line + self._line_offset)

    def _read_by_copy_rules(self, plan: ReadPlan, *, start: int) -> Iterator[SourceBatch]:
        """Records from ``start`` on, split by COPY's rules (csv_exact.py), as text."""
        rows = (row for row in self._copy_rules_rows() if row.record >= start)
        return text_batches(rows, self.column_names(), plan, path=self.file.path)

    def _careful_rules(self, names: list[str]) -> CarefulRules:
        options = self.options
        return CarefulRules(
            names=tuple(names),
            records_before=options.skip_rows
            + (0 if (options.column_names and not options.header) else 1),
            escaped_delimiter="\\" + self.delimiter if self.is_text_style else None,
            error=self._error,
        )

    def _careful_batches(
        self, names: list[str], types: dict[str, pa.DataType]
    ) -> Iterator[tuple[pa.RecordBatch, np.ndarray, list[SkippedRecord]]]:
        """Batches, their record numbers and the ragged records before them.

        A record longer than the block fails pyarrow's read: the file is read
        again with a larger block, skipping what was already handed out.
        """
        block = BLOCK_BYTES
        handed_rows = 0
        handed_skipped = 0
        while True:
            opener = functools.partial(
                self._open, names, types, careful=True, block_size=block, keep_arrow_invalid=True
            )
            reading = CarefulReading(opener, self._careful_rules(names))
            try:
                for batch, records, skipped in reading:
                    rows_before = reading.rows - batch.num_rows
                    start = max(0, handed_rows - rows_before)
                    fresh = skipped[max(0, handed_skipped - (reading.skipped - len(skipped))) :]
                    if start < batch.num_rows or fresh:
                        yield batch.slice(start), records[start:], fresh
                    handed_rows = max(handed_rows, reading.rows)
                    handed_skipped = max(handed_skipped, reading.skipped)
                return
            except pa.ArrowInvalid as exc:
                if block >= MAX_BLOCK_BYTES:
                    raise ParseError(
                        f"cannot parse CSV: {printable(str(exc).strip().splitlines()[0])}",
                        hint=f"a record over {MAX_BLOCK_BYTES >> 20} MiB is not read "
                        "(the largest block pgingest uses), or the file is not CSV",
                        path=self.file.path,
                    ) from exc
                block *= BLOCK_GROWTH
                logger.info(
                    "%s: a record is longer than the block; reading again with %d MiB blocks",
                    self.file.path,
                    block >> 20,
                )

    def sample(self, limit: int) -> list[SampleColumn]:
        """The first ``limit`` records as text (NULL as None), ragged rows left out."""
        names = self.column_names()
        types = {name: pa.binary() for name in names}
        columns: dict[str, list[Any]] = {name: [] for name in names}
        taken = 0
        for batch, records, _skipped in self._careful_batches(names, types):
            part = batch.slice(0, limit - taken)
            if self.is_text_style and part.num_rows:
                part = self._decoded(part, records)
            for name in names:
                columns[name].extend(
                    None if v is None else v.decode(self.encoding_for_python, "replace")
                    for v in part.column(name).to_pylist()
                )
            taken += part.num_rows
            if taken >= limit:
                break
        return [SampleColumn(name, values) for name, values in columns.items()]

    @property
    def encoding_for_python(self) -> str:
        """pyarrow hands over UTF-8 whatever the file's encoding."""
        return "utf-8"

    # --- lines -------------------------------------------------------------------------

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """Line and raw text of records, found by re-reading the file with the csv module."""
        wanted = set(records)
        if not wanted:
            return {}
        last = max(wanted)
        found: dict[int, Location] = {}
        if self._is_copy_only:
            for text_row in self._copy_rules_rows():
                if text_row.record in wanted:
                    found[text_row.record] = Location(text_row.line, text_row.raw)
                if text_row.record >= last:
                    break
            return found
        # The csv module refuses fields over 128 KiB by default (a process-wide limit);
        # pyarrow read values up to MAX_BLOCK_BYTES, so their lines must be found too.
        csv.field_size_limit(max(csv.field_size_limit(), MAX_BLOCK_BYTES))
        quote = None if self.is_text_style else self.quote
        escape = None if self.is_text_style else self.options.escape
        with self._open_text() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            tap = LineTap(text)
            reader = csv.reader(
                tap,
                delimiter=self.delimiter,
                quotechar=quote or '"',
                quoting=csv.QUOTE_NONE if quote is None else csv.QUOTE_MINIMAL,
                doublequote=escape is None,
                escapechar=escape,
                strict=False,
            )
            record = -(self.options.skip_rows + (1 if self.options.header else 0))
            previous_line = 0
            keeps_blank_lines = self._keeps_blank_lines
            try:
                for row in reader:
                    if row or record < 0 or keeps_blank_lines:
                        if record >= 0 and record in wanted:
                            line = previous_line + 1 + self._line_offset
                            found[record] = Location(line, tap.text())
                        record += 1
                        if record > last:
                            break
                    previous_line = reader.line_num
                    tap.clear()
            except csv.Error:
                pass  # records past a malformed one stay unlocated; callers show record numbers
        return found
