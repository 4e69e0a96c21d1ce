"""Small parts of the CSV reader: pyarrow's batches, record numbers, line taps, streams."""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from pgingest.parse import SkippedRecord, SourceBatch

__all__ = [
    "CarefulReading",
    "CarefulRules",
    "LineTap",
    "PyarrowInput",
    "RecordMapper",
    "arrow_batches",
    "as_binary",
    "skip_row",
]


logger = logging.getLogger(__name__)


def _quiet_undecodable_rows(previous: Callable[[Any], object]) -> Callable[[Any], None]:
    """An unraisable-exception hook that keeps pyarrow's failure to decode a ragged row quiet.

    pyarrow decodes a ragged row's text as UTF-8 before it calls the invalid-row
    handler; on bytes that are not UTF-8 the call fails inside pyarrow, which
    prints "Exception ignored" with a traceback and then fails the read with
    "CSV parse error" — which pgingest reports as the file's error. Only that case,
    for pgingest's own row handlers, is kept quiet (logged at debug); every other
    unraisable exception goes to the hook that was there before.
    """

    def hook(unraisable: Any) -> None:
        module = str(getattr(unraisable.object, "__module__", ""))
        if isinstance(unraisable.exc_value, UnicodeDecodeError) and module.startswith(
            "pgingest.parse"
        ):
            logger.debug("a ragged row is not UTF-8: %s", unraisable.exc_value)
            return
        previous(unraisable)

    return hook


sys.unraisablehook = _quiet_undecodable_rows(sys.unraisablehook)


class PyarrowInput(io.RawIOBase):
    """A file's text as pyarrow's CSV reader must be given it.

    * No read but the last ends in a carriage return: pyarrow drops a line
      feed that starts a block when the block before ended in CR, even inside a
      quoted value (apache/arrow#51368): ``"p\\r\\nq"`` cut there loaded as
      ``p\\rq``. A CR at the end of a read is held back to start the next one.
    * ``final_newline``: a line break is added at the end, unless the text
      ends in one (pyarrow reads a last record without one differently, see
      CsvReader._open).
    * ``quote``: the quote bytes are counted. An odd number (``quotes_open``)
      leaves a quoted value open at the end, which COPY refuses and pyarrow
      reads as if it were closed.
    """

    def __init__(self, stream: pa.NativeFile, *, final_newline: bool, quote: bytes | None) -> None:
        super().__init__()
        self._stream = stream
        self._final_newline = final_newline
        self._quote = None if quote is None else quote[0]
        self._pending = b""  # bytes read but not yet handed on (a held CR, the added line break)
        self._last = b""
        self._quotes = 0
        self._eof = self._ended = False

    @property
    def quotes_open(self) -> bool:
        """Whether an odd number of quotes was read (a quoted value still open)."""
        return self._quotes % 2 == 1

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes; fewer only at the end (or when a CR is held back)."""
        want = None if size is None or size < 0 else max(size, 2)
        chunk, self._pending = self._pending, b""
        while not self._eof and (want is None or len(chunk) < want):
            more: bytes = self._stream.read(-1 if want is None else want - len(chunk))
            if not more:
                self._eof = True
                break
            chunk = chunk + more if chunk else more
        if self._eof and not self._ended:
            self._ended = True  # the line break goes on the last read, as one block with it
            if self._final_newline and (chunk or self._last)[-1:] != b"\n":
                chunk += b"\n"
                if want is not None and len(chunk) > want:
                    chunk, self._pending = chunk[:want], chunk[want:]
        if chunk.endswith(b"\r") and (self._pending or not self._eof):
            # Its CRs start the next read (a read of nothing but CRs, which only a run
            # longer than the read can give, is handed on as it is).
            kept = chunk.rstrip(b"\r")
            if kept:
                chunk, self._pending = kept, chunk[len(kept) :] + self._pending
        if chunk:
            self._last = chunk[-1:]
            if self._quote is not None:  # numpy counts ~4x faster than bytes.count
                self._quotes += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == self._quote))
        return chunk

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class LineTap:
    """Hands lines to the csv module and keeps those of the record being read."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._taken: list[str] = []

    def __iter__(self) -> LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._taken.append(line)
        return line

    def text(self) -> str:
        return "".join(self._taken).rstrip("\r\n")

    def clear(self) -> None:
        self._taken.clear()


def arrow_batches(reader: pcsv.CSVStreamingReader, error: Any) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
            raise error(exc) from exc
        if batch.num_rows:
            yield batch


class RecordMapper:
    """Gives record numbers to the rows pyarrow kept, skipping the records it rejected."""

    def __init__(self) -> None:
        self._next = 0
        self._invalid: list[int] = []

    def add_invalid(self, rows: list[SkippedRecord]) -> list[SkippedRecord]:
        self._invalid.extend(r.record for r in rows)
        self._invalid.sort()
        return list(rows)

    def take(self, count: int) -> np.ndarray:
        records = np.empty(count, dtype=np.int64)
        filled = 0
        while filled < count:
            while self._invalid and self._invalid[0] < self._next:
                self._invalid.pop(0)
            if self._invalid and self._invalid[0] == self._next:
                self._invalid.pop(0)
                self._next += 1
                continue
            stop = self._invalid[0] if self._invalid else self._next + (count - filled)
            run = min(stop - self._next, count - filled)
            records[filled : filled + run] = np.arange(self._next, self._next + run)
            filled += run
            self._next += run
        return records


def as_binary(batch: SourceBatch) -> SourceBatch:
    columns = [c.cast(pa.binary()) if pa.types.is_string(c.type) else c for c in batch.data.columns]
    data = pa.RecordBatch.from_arrays(columns, names=batch.data.schema.names)
    return dataclasses.replace(batch, data=data)


def skip_row(row: Any) -> str:
    """Peeking at the header, a ragged row further on is not yet anyone's concern."""
    return "skip"


@dataclass(frozen=True)
class CarefulRules:
    """What a careful pass needs to know about the file besides its stream."""

    names: tuple[str, ...]
    records_before: int  # lines pyarrow reads before the first record (skipped, header)
    escaped_delimiter: str | None  # text format: a backslash before the delimiter
    error: Callable[[BaseException], Exception]


class CarefulReading:
    """One careful pass over the file with one block size: batches, their records, ragged rows.

    Raises pa.ArrowInvalid (uncaught) when a record does not fit in the block.
    """

    def __init__(
        self, open_stream: Callable[..., pcsv.CSVStreamingReader], rules: CarefulRules
    ) -> None:
        self._open_stream = open_stream
        self._rules = rules
        self.rows = 0  # rows read so far
        self.skipped = 0  # ragged records met so far

    def _on_invalid(self, invalid: list[SkippedRecord]) -> Callable[[Any], str]:
        rules = self._rules

        def on_invalid(row: Any) -> str:
            record = (row.number or 0) - rules.records_before - 1
            reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
            if rules.escaped_delimiter and rules.escaped_delimiter in row.text:
                reason += " (a backslash before a delimiter, which pgingest does not read)"
            invalid.append(SkippedRecord(record, row.text, reason))
            return "skip"

        return on_invalid

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, np.ndarray, list[SkippedRecord]]]:
        invalid: list[SkippedRecord] = []
        stream = self._open_stream(handler=self._on_invalid(invalid))
        mapper = RecordMapper()
        try:
            while True:
                try:
                    batch = stream.read_next_batch()
                except StopIteration:
                    break
                except (OSError, UnicodeDecodeError) as exc:
                    raise self._rules.error(exc) from exc
                skipped = mapper.add_invalid(invalid)
                invalid.clear()
                records = mapper.take(batch.num_rows)
                self.rows += batch.num_rows
                self.skipped += len(skipped)
                yield batch, records, skipped
            if invalid:
                skipped = mapper.add_invalid(invalid)
                self.skipped += len(skipped)
                schema = pa.schema([(n, pa.binary()) for n in self._rules.names])
                yield pa.RecordBatch.from_pylist([], schema=schema), np.empty(0, np.int64), skipped
        finally:
            stream.close()
