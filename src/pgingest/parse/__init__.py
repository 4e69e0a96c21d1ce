"""Source files → Arrow record batches, one reader per format, streaming.

Every reader answers three questions: which columns the file has
(``column_names``), the batches of the columns a plan asks for (``read``),
and where a record is and what it said (``locate``: its line and raw text,
asked only when a record is rejected, so the hot path never counts lines).

Readers have two modes. The fast mode lets pyarrow convert values while it
parses wherever its rules match PostgreSQL's; the careful mode reads every
value as text (or JSON text), so pgingest's own conversion can point at the
exact bad value. A unit that meets a bad value in fast mode is retried in
careful mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa

from pgingest.config import Source
from pgingest.discover import SourceFile
from pgingest.infer import SampleColumn

if TYPE_CHECKING:
    from pgingest.parse.csv import CsvReader

__all__ = [
    "ColumnRead",
    "Location",
    "ReadPlan",
    "SchemaDrift",
    "SkippedRecord",
    "SourceBatch",
    "SourceReader",
    "open_reader",
    "rebatch",
]


@dataclass(frozen=True)
class ColumnRead:
    """One file column a plan reads, and the form its values should take."""

    name: str
    native_type: pa.DataType | None = None  # parse straight to this type (fast mode)
    json_text: bool = False  # values arrive as JSON text (json/jsonb targets)
    is_list: bool = False  # values arrive as lists of text (array targets)


@dataclass(frozen=True)
class ReadPlan:
    """Which columns to read, in which form, in batches of how many rows."""

    columns: tuple[ColumnRead, ...]
    batch_rows: int
    careful: bool = False

    @property
    def names(self) -> list[str]:
        """The file columns read, in batch order."""
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Location:
    """Where a record is in its file (line; record number + 1 where there are no lines)."""

    line: int | None
    raw: str | None = None


@dataclass(frozen=True)
class SkippedRecord:
    """A record the parser could not split into the file's columns (a ragged row)."""

    record: int
    text: str
    reason: str


@dataclass(frozen=True)
class SourceBatch:
    """Parsed rows and the record number (0-based, in the file) of each."""

    data: pa.RecordBatch
    first_record: int
    records: np.ndarray | None = None  # per-row record numbers when not contiguous
    skipped: tuple[SkippedRecord, ...] = ()

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
        return int(self.data.num_rows)

    def record_numbers(self) -> np.ndarray:
        """The record number of every row."""
        if self.records is not None:
            return self.records
        return np.arange(self.first_record, self.first_record + self.num_rows, dtype=np.int64)

    def slice(self, offset: int, length: int) -> SourceBatch:
        """Rows ``offset`` to ``offset + length`` (zero-copy)."""
        records = None if self.records is None else self.records[offset : offset + length]
        return SourceBatch(self.data.slice(offset, length), self.first_record + offset, records)


class SchemaDrift(Exception):  # noqa: N818 - a signal, not an error a user sees
    """A file's columns changed after the first records (JSON keys that appear late)."""


class SourceReader(Protocol):
    """Reads one source file."""

    def column_names(self, *, complete: bool = False) -> list[str]:
        """The file's columns; ``complete`` scans the whole file where a sample could miss some."""
        ...

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of ``plan.batch_rows`` rows (the last may be shorter) of the plan's columns."""
        ...

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """For each 0-based record: the 1-based line where it starts and its raw text."""
        ...

    def sample(self, limit: int) -> list[SampleColumn]:
        """The first ``limit`` records' values per column (or the declared types), for create."""
        ...


def rebatch(batches: Iterable[SourceBatch], rows: int) -> Iterator[SourceBatch]:
    """Batches of exactly ``rows`` rows (the last may be shorter); slices are zero-copy."""
    pending: list[SourceBatch] = []
    pending_rows = 0
    skipped: list[SkippedRecord] = []
    schema: pa.Schema | None = None
    next_record = 0
    for batch in batches:
        schema = batch.data.schema
        next_record = batch.first_record + batch.num_rows
        skipped.extend(batch.skipped)
        offset = 0
        while offset < batch.num_rows:
            take = min(rows - pending_rows, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            pending_rows += take
            offset += take
            if pending_rows == rows:
                yield _join(pending, skipped)
                pending, pending_rows, skipped = [], 0, []
    if pending_rows:
        yield _join(pending, skipped)
    elif skipped and schema is not None:
        empty = SourceBatch(pa.RecordBatch.from_pylist([], schema=schema), next_record)
        yield _join([empty], skipped)


def _join(parts: Sequence[SourceBatch], skipped: list[SkippedRecord]) -> SourceBatch:
    first = parts[0]
    data = first.data if len(parts) == 1 else pa.concat_batches([p.data for p in parts])
    contiguous = all(p.records is None for p in parts) and all(
        parts[i].first_record + parts[i].num_rows == parts[i + 1].first_record
        for i in range(len(parts) - 1)
    )
    records = None if contiguous else np.concatenate([p.record_numbers() for p in parts])
    return SourceBatch(data, first.first_record, records, tuple(skipped))


def _check_header_width(reader: CsvReader, source: Source) -> None:
    from pgingest.parse.limits import HEADER_SCAN_BYTES, check_header_width  # noqa: PLC0415

    file = reader.file
    head = reader.head(HEADER_SCAN_BYTES)  # a small file's bytes, read once for all (issue 12)
    delimiter = source.csv.delimiter
    if file.format == "tsv" and "delimiter" not in source.csv.model_fields_set:
        delimiter = "\t"
    check_header_width(head, delimiter, file.limits, path=file.path)


def open_reader(file: SourceFile, source: Source) -> SourceReader:
    """The reader for a file's format, bounded by the source's settings.limits."""
    # The readers import this module, so they are imported here.
    from pgingest.parse import csv, json, parquet  # noqa: PLC0415

    if file.limits is not source.limits:
        file = replace(file, limits=source.limits)
    if file.format in ("csv", "tsv"):
        reader = csv.CsvReader(
            file,
            source.csv,
            is_tsv=file.format == "tsv",
            encoding=source.encoding,
            distinct_header=source.create,
        )
        _check_header_width(reader, source)
        return reader
    if file.format in ("json", "ndjson"):
        return json.JsonReader(
            file,
            is_lines=file.format == "ndjson",
            options=source.json_options,
            encoding=source.encoding,
        )
    if file.format == "excel":
        from pgingest.parse.excel import ExcelReader  # noqa: PLC0415

        return ExcelReader(file, source.excel)
    if file.format == "fixed_width":
        from pgingest.parse.fixed_width import FixedWidthReader  # noqa: PLC0415

        assert source.fixed_width is not None  # the config requires it for this format
        return FixedWidthReader(file, source.fixed_width, encoding=source.encoding)
    if file.format in ("ipc", "orc"):
        from pgingest.parse.arrow_files import IpcReader, OrcReader  # noqa: PLC0415

        return IpcReader(file) if file.format == "ipc" else OrcReader(file)
    return parquet.ParquetReader(file)
