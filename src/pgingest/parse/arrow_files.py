"""Arrow IPC (Feather) and ORC files: typed columns, read batch by batch like Parquet.

Both formats carry their types, so values keep them (a timestamp stays a
timestamp) and ``create: true`` maps the schema one to one. IPC files are read
in the random-access file format (Feather v2, ``.arrow``) or, failing that, as
an IPC stream; Feather v1 files are read whole. ORC is read stripe by stripe.
A compressed file (``.arrow.gz``) is decompressed to a temporary file first,
as both formats need to seek.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
from pyarrow import feather, ipc

from pgingest.discover import SourceFile
from pgingest.errors import ParseError
from pgingest.infer import SampleColumn
from pgingest.parse import Location, ReadPlan, SourceBatch, rebatch
from pgingest.parse.stream import open_seekable, printable, source_error
from pgingest.parse.text_rows import check_names

__all__ = ["IpcReader", "OrcReader"]

# What pyarrow raises for a corrupt, truncated or mislabelled file.
_READ_ERRORS = (pa.ArrowException, OSError, ValueError)


class _TypedFileReader:
    """What IPC and ORC share: a seekable local file, its schema and its batches."""

    format_name = ""

    def __init__(self, file: SourceFile) -> None:
        self.file = file

    def _error(self, exc: BaseException) -> ParseError:
        text = (
            printable(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        )
        return ParseError(
            f"cannot read {self.format_name}: {text}",
            hint=f"the file is corrupt, truncated, or not {self.format_name}",
            path=self.file.path,
        )

    def _schema_of(self, path: str) -> pa.Schema:
        raise NotImplementedError

    def _batches_of(self, path: str, names: list[str]) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def _with_local(self, work: Any) -> Any:
        try:
            path, is_temporary = open_seekable(self.file)
        except OSError as exc:
            raise source_error(exc, self.file) from exc
        try:
            return work(path)
        except _READ_ERRORS as exc:
            raise self._error(exc) from exc
        finally:
            if is_temporary:
                os.unlink(path)

    def schema(self) -> pa.Schema:
        """The file's Arrow schema (its column names checked: present and distinct)."""
        schema: pa.Schema = self._with_local(self._schema_of)
        check_names(schema.names, path=self.file.path, line=None)
        return schema

    def column_names(self, *, complete: bool = False) -> list[str]:
        """The schema's top-level field names."""
        return list(self.schema().names)

    def sample(self, limit: int) -> list[SampleColumn]:
        """The file declares its types: the schema's fields."""
        return [SampleColumn(f.name, arrow_type=f.type) for f in self.schema()]

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of ``plan.batch_rows`` rows of the planned columns, types kept."""
        return rebatch(self._read(plan), plan.batch_rows)

    def _read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        try:
            path, is_temporary = open_seekable(self.file)
        except OSError as exc:
            raise source_error(exc, self.file) from exc
        record = 0
        try:
            batches = self._batches_of(path, plan.names)
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except _READ_ERRORS as exc:
                    raise self._error(exc) from exc
                yield SourceBatch(batch.select(plan.names), record)
                record += batch.num_rows
        finally:
            if is_temporary:
                os.unlink(path)

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """No lines: the 1-based record number."""
        return {record: Location(record + 1) for record in records}


class IpcReader(_TypedFileReader):
    """Reads an Arrow IPC file or stream (Feather v1 and v2)."""

    format_name = "Arrow IPC"

    def _schema_of(self, path: str) -> pa.Schema:
        with pa.OSFile(path) as source:
            try:
                return ipc.open_file(source).schema
            except pa.ArrowInvalid:
                pass
        with pa.OSFile(path) as source:
            try:
                return ipc.open_stream(source).schema
            except pa.ArrowInvalid:
                pass
        return feather.read_table(path, memory_map=False).schema

    def _batches_of(self, path: str, names: list[str]) -> Iterator[pa.RecordBatch]:
        with pa.OSFile(path) as source:
            try:
                reader = ipc.open_file(source)
            except pa.ArrowInvalid:
                reader = None
            if reader is not None:
                for index in range(reader.num_record_batches):
                    yield reader.get_batch(index).select(names)
                return
        with pa.OSFile(path) as source:
            try:
                stream = ipc.open_stream(source)
            except pa.ArrowInvalid:
                stream = None
            if stream is not None:
                for batch in stream:
                    yield batch.select(names)
                return
        # Feather v1 has no batches: the (small, old) file is read whole.
        table = feather.read_table(path, columns=names, memory_map=False)
        yield from table.to_batches()


class OrcReader(_TypedFileReader):
    """Reads an ORC file, stripe by stripe."""

    format_name = "ORC"

    def _schema_of(self, path: str) -> pa.Schema:
        from pyarrow import orc  # noqa: PLC0415 - only when an ORC file is read

        schema: pa.Schema = orc.ORCFile(path).schema
        return schema

    def _batches_of(self, path: str, names: list[str]) -> Iterator[pa.RecordBatch]:
        from pyarrow import orc  # noqa: PLC0415 - only when an ORC file is read

        opened = orc.ORCFile(path)
        for stripe in range(opened.nstripes):
            yield opened.read_stripe(stripe, columns=names)
