"""JSON Lines (NDJSON), top-level JSON arrays of objects, and single JSON objects, streaming.

Fast mode reads NDJSON with pyarrow's multi-threaded JSON reader. The careful
mode, and any file whose target has json/jsonb or array columns, reads record
by record: NDJSON line by line, a JSON array with ijson's streaming parser (a
file is never held whole). Numbers are read as exact decimals, so a JSON value
stored into jsonb keeps its digits.

A file holding one JSON object over many lines (a GeoJSON FeatureCollection, a
config-like document) is one record, as it is when written on one line. With
``json.flatten``, nested objects become columns (``address.city``); otherwise
they load whole, into jsonb. Text in UTF-16 or UTF-32 (a byte-order mark, or
the source's ``encoding``) is transcoded to UTF-8 first.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from functools import cached_property
from typing import Any

import ijson
import ijson.backends.python as ijson_exact
import numpy as np
import pyarrow as pa
import pyarrow.json as pjson

from pgingest.config import JsonOptions
from pgingest.convert.arrow import dump_json
from pgingest.convert.binary import parse_array_literal
from pgingest.discover import SourceFile
from pgingest.errors import ParseError
from pgingest.infer import SampleColumn
from pgingest.parse import Location, ReadPlan, SchemaDrift, SkippedRecord, SourceBatch, rebatch
from pgingest.parse.encoding import TextEncoding, resolve_encoding
from pgingest.parse.limits import JsonGuard
from pgingest.parse.stream import (
    STREAM_BUFFER_BYTES,
    open_utf8_binary,
    open_utf8_stream,
    printable,
    source_error,
)

__all__ = ["JsonReader"]

# Keys are learned from the first records; a key first seen later makes the
# unit start again with every key of the file (SchemaDrift).
SAMPLE_RECORDS = 1000
BLOCK_BYTES = 4 << 20
_BOM = b"\xef\xbb\xbf"
# A \uD800-\uDFFF escape. Paired, it is one character; alone, PostgreSQL's text and
# jsonb refuse it, and yajl (ijson's fast backend) silently writes "?" for it.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = (
    "invalid Unicode: a lone surrogate escape (\\ud800-\\udfff), refused by PostgreSQL"
)


def _text_form(value: Any) -> str | None:
    """A JSON scalar as the text PostgreSQL's input functions would read."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal, float)):
        return str(value)
    return dump_json(value)


class JsonReader:
    """Reads NDJSON, a JSON array of objects, or one JSON object."""

    def __init__(
        self,
        file: SourceFile,
        *,
        is_lines: bool,
        options: JsonOptions | None = None,
        encoding: str | None = None,
    ) -> None:
        self.file = file
        self._declared_lines = is_lines
        self._layout: str | None = None  # "lines", "array" or "document"
        self._names: list[str] | None = None
        self._complete = False
        self.options = options or JsonOptions()
        self._declared_encoding = encoding

    @cached_property
    def text_encoding(self) -> TextEncoding:
        """The file's encoding: declared, else told by a byte-order mark, UTF-8, or detected."""
        return resolve_encoding(self.file, self._declared_encoding)

    @property
    def encoding(self) -> str:
        """The codec of the file's text."""
        return self.text_encoding.codec

    def _open(self) -> Any:
        return self._guarded(open_utf8_binary(self.file, self.encoding))

    def _guarded(self, source: Any) -> io.BufferedReader:
        """The text, failing past the nesting and record limits before a parser holds it."""
        guard = JsonGuard(
            source,
            self.file.limits,
            path=self.file.path,
            record_depth=2 if self._layout == "array" else 1,
            is_lines=self._layout in (None, "lines"),
        )
        return io.BufferedReader(guard, STREAM_BUFFER_BYTES)

    @property
    def is_lines(self) -> bool:
        """True for one object per line; False for a top-level array or one object."""
        return self.layout == "lines"

    @property
    def layout(self) -> str:
        """How the file holds its records: "lines", "array" or "document" (one object)."""
        if self._layout is None:
            self._layout = self._sniff_layout()
        return self._layout

    def _sniff_layout(self) -> str:
        try:
            with self._open() as raw:
                head = raw.read(4096).removeprefix(_BOM).lstrip()
                first_line = head.split(b"\n", 1)[0] + (b"" if b"\n" in head else raw.readline())
        except OSError as exc:
            raise source_error(exc, self.file) from exc
        if not head:
            raise ParseError("the file is empty", path=self.file.path)
        if head[:1] == b"[":
            return "array"
        if head[:1] == b"{":
            return "lines" if _parses(first_line) or not self._is_one_object() else "document"
        raise ParseError(
            "expected JSON objects, one per line, or an array of objects",
            hint='check the file, or set "format" on the source',
            path=self.file.path,
            line=1,
        )

    # --- records -----------------------------------------------------------------------

    def _is_one_object(self) -> bool:
        """Whether the whole file is one JSON value (checked as a stream, never held whole)."""
        try:
            with self._open() as raw:
                for _ in ijson.parse(raw, use_float=False):
                    pass
        except (ijson.JSONError, UnicodeDecodeError):
            return False
        except OSError as exc:
            raise source_error(exc, self.file) from exc
        return True

    def _records(self) -> Iterator[tuple[int, int, Any]]:
        """(record number, line, value) of each record; a bad NDJSON line has value _BAD."""
        flatten = self.options.flatten
        try:
            with self._open() as raw:
                for record, line, value in self._raw_records(raw):
                    if flatten and isinstance(value, dict):
                        yield record, line, _flattened(value, self.options.separator)
                    else:
                        yield record, line, value
        except (OSError, pa.ArrowException) as exc:
            raise source_error(exc, self.file) from exc

    def _raw_records(self, raw: Any) -> Iterator[tuple[int, int, Any]]:
        layout = self.layout
        if layout == "lines":
            return self._line_records(raw)
        if layout == "array":
            return self._array_records(raw)
        return self._document_records(raw)

    def _document_records(self, raw: Any) -> Iterator[tuple[int, int, Any]]:
        head = raw.peek(3)[:3]
        if head == _BOM:
            raw.read(3)
        try:
            for value in self._exact_items(raw, ""):
                yield 0, 1, value
        except ijson.JSONError as exc:
            raise ParseError(
                f"malformed JSON: {printable(str(exc))}",
                hint="check the file with a JSON validator",
                path=self.file.path,
            ) from exc

    def _line_records(self, raw: io.BufferedReader | Any) -> Iterator[tuple[int, int, Any]]:
        record = 0
        for line_number, raw_line in enumerate(raw, start=1):
            line = raw_line.removeprefix(_BOM) if line_number == 1 else raw_line
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=Decimal)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                value = _Bad(line, f"malformed JSON: {printable(str(exc))}")
            else:
                if _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(value):
                    value = _Bad(line, _LONE_SURROGATE)
            yield record, line_number, value
            record += 1

    def _array_records(self, raw: Any) -> Iterator[tuple[int, int, Any]]:
        head = raw.peek(3)[:3]
        if head == _BOM:
            raw.read(3)
        try:
            for record, value in enumerate(self._exact_items(raw, "item")):
                yield record, record + 1, value
        except ijson.JSONError as exc:
            raise ParseError(
                f"malformed JSON: {printable(str(exc))}",
                hint="check the file with a JSON validator",
                path=self.file.path,
            ) from exc

    def _exact_items(self, raw: Any, prefix: str) -> Iterator[Any]:
        """ijson's items; from the first surrogate escape on, the pure-Python backend's.

        The C backend turns a lone surrogate into "?"; the Python one keeps it, and
        such a record becomes a reject. Items already handed out came from bytes
        read before the escape, so they are exact.
        """
        watch = _SurrogateWatch(raw)
        count = 0
        for value in ijson.items(watch, prefix, use_float=False):
            if watch.seen:
                break
            yield value
            count += 1
        else:
            return
        with self._open() as again:
            if again.peek(3)[:3] == _BOM:
                again.read(3)
            for index, value in enumerate(ijson_exact.items(again, prefix, use_float=False)):
                if index < count:
                    continue
                if _has_lone_surrogate(value):
                    yield _Bad(json.dumps(value).encode(), _LONE_SURROGATE)
                else:
                    yield value

    # --- columns -----------------------------------------------------------------------

    def column_names(self, *, complete: bool = False) -> list[str]:
        """Keys of the first records (or of every record with ``complete``), in first-seen order."""
        if self._names is not None and (self._complete or not complete):
            return list(self._names)
        names: dict[str, None] = {}
        for record, line, value in self._records():
            if isinstance(value, dict):
                names.update(dict.fromkeys(value))
            elif not isinstance(value, _Bad) and not complete:
                raise ParseError(
                    f"expected a JSON object, found {type(value).__name__}",
                    path=self.file.path,
                    line=line,
                )
            if not complete and record + 1 >= SAMPLE_RECORDS:
                break
        self._names = list(names)
        self._complete = complete
        return list(self._names)

    def sample(self, limit: int) -> list[SampleColumn]:
        """The first ``limit`` objects' values per key (a missing key reads as None)."""
        rows = []
        for record, _line, value in self._records():
            if isinstance(value, dict):
                rows.append(value)
            if record + 1 >= limit:
                break
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        return [
            SampleColumn(name, [row.get(name) for row in rows], strings_are_text=True)
            for name in names
        ]

    # --- batches -----------------------------------------------------------------------

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of the plan's columns, as typed values (fast) or text forms."""
        needs_records = any(c.json_text or c.is_list for c in plan.columns)
        if plan.careful or needs_records or self.options.flatten or not self.is_lines:
            return rebatch(self._read_records(plan), plan.batch_rows)
        return rebatch(self._read_fast(plan), plan.batch_rows)

    def _read_fast(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        known = set(self.column_names())
        schema = pa.schema([(c.name, c.native_type or pa.string()) for c in plan.columns])
        # Not guarded: pyarrow's reader parses deep nesting without recursion and fails a
        # line longer than its block; the careful reader, which Python parses, is guarded.
        stream = open_utf8_stream(self.file, self.encoding)
        try:
            reader = pjson.open_json(
                stream,
                read_options=pjson.ReadOptions(block_size=BLOCK_BYTES),
                parse_options=pjson.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="infer"
                ),
            )
        except pa.ArrowInvalid as exc:
            stream.close()
            raise FastPathFailedError(str(exc)) from exc
        record = 0
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise FastPathFailedError(str(exc)) from exc
                if set(batch.schema.names) - known:
                    raise SchemaDrift(str(sorted(set(batch.schema.names) - known)))
                batch = batch.select(plan.names)
                yield SourceBatch(batch, record)
                record += batch.num_rows
        finally:
            stream.close()

    def _read_records(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        known = set(self.column_names())
        rows: list[dict[str, Any]] = []
        records: list[int] = []
        skipped: list[SkippedRecord] = []
        chunk = max(plan.batch_rows, 1)
        list_columns = [c.name for c in plan.columns if c.is_list]
        for record, _line, value in self._records():
            if isinstance(value, _Bad):
                skipped.append(SkippedRecord(record, value.text, value.reason))
            elif not isinstance(value, dict):
                reason = f"expected a JSON object, found {_json_type(value)}"
                skipped.append(SkippedRecord(record, dump_json(value), reason))
            if skipped and not plan.careful:
                # The fast mode never sets records aside: the careful mode does, as rejects.
                raise FastPathFailedError(skipped[0].reason)
            if isinstance(value, _Bad) or not isinstance(value, dict):
                continue
            if not known.issuperset(value):
                raise SchemaDrift(str(sorted(set(value) - known)))
            problem = _list_problem(value, list_columns)
            if problem:
                skipped.append(SkippedRecord(record, dump_json(value), problem))
                continue
            rows.append(value)
            records.append(record)
            if len(rows) >= chunk:
                yield self._make_batch(plan, rows, records, skipped)
                rows, records, skipped = [], [], []
        if rows or skipped:
            yield self._make_batch(plan, rows, records, skipped)

    def _make_batch(
        self,
        plan: ReadPlan,
        rows: list[dict[str, Any]],
        records: list[int],
        skipped: list[SkippedRecord],
    ) -> SourceBatch:
        arrays = []
        for column in plan.columns:
            values = [row.get(column.name) for row in rows]
            if column.json_text:
                arrays.append(
                    pa.array([None if v is None else dump_json(v) for v in values], pa.string())
                )
            elif column.is_list:
                arrays.append(pa.array([_list_form(v) for v in values], pa.list_(pa.string())))
            else:
                arrays.append(pa.array([_text_form(v) for v in values], pa.string()))
        data = pa.RecordBatch.from_arrays(arrays, names=plan.names)
        numbers = np.asarray(records, dtype=np.int64)
        first = int(numbers[0]) if len(numbers) else 0
        return SourceBatch(data, first, numbers, tuple(skipped))

    # --- lines -------------------------------------------------------------------------

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """NDJSON: the record's line and its text; a JSON array: record number + 1 and JSON."""
        wanted = set(records)
        if not wanted:
            return {}
        found: dict[int, Location] = {}
        last = max(wanted)
        for record, line, value in self._records():
            if record in wanted:
                raw = value.text if isinstance(value, _Bad) else dump_json(value)
                found[record] = Location(line if self.is_lines else record + 1, raw)
            if record >= last:
                break
        return found


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return True


def _flattened(value: dict[str, Any], separator: str, prefix: str = "") -> dict[str, Any]:
    """Nested objects as columns: {"a": {"b": 1}} → {"a.b": 1}; arrays stay values."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{separator}{key}" if prefix else str(key)
        if isinstance(item, dict) and item:
            flat.update(_flattened(item, separator, name))
        else:
            flat[name] = item
    return flat


class _SurrogateWatch:
    """A binary file read through, noting whether a surrogate escape went by."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._tail = b""
        self.seen = False

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        if data and not self.seen:
            self.seen = _SURROGATE_ESCAPE.search(self._tail + data) is not None
            self._tail = data[-3:]
        return data


def _has_lone_surrogate(value: Any) -> bool:
    try:
        dump_json(value).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _Bad:
    """A line that is not valid JSON, kept with its reason."""

    def __init__(self, line: bytes, reason: str) -> None:
        self.text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        self.reason = reason


class FastPathFailedError(ParseError):
    """pyarrow's JSON reader refused the file; the careful reader will say why, exactly."""


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float, Decimal)) else type(value).__name__


def _list_problem(value: dict[str, Any], list_columns: list[str]) -> str | None:
    for name in list_columns:
        item = value.get(name)
        if item is None or isinstance(item, list):
            continue
        if isinstance(item, str):
            try:
                parse_array_literal(item)
            except ValueError as exc:
                return f"column {name!r}: {exc}"
            continue
        return f"column {name!r}: expected a JSON array, found {_json_type(item)}"
    return None


def _list_form(value: Any) -> list[str | None] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_array_literal(value)
    return [_text_form(v) for v in value]
