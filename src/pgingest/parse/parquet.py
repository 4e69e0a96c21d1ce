"""Parquet, read row group by row group with only the planned columns.

A file whose footer is corrupt, encrypted, or claims more rows or bytes than it
holds fails with a clear error before any large allocation: pgingest checks the
footer's row groups against the file size first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from pgingest.discover import SourceFile
from pgingest.errors import ParseError
from pgingest.infer import SampleColumn
from pgingest.parse import Location, ReadPlan, SourceBatch
from pgingest.parse.stream import open_seekable, printable, source_error
from pgingest.parse.text_rows import check_names

__all__ = ["ParquetReader"]

# No real encoding stores a row in less than this many bits on disk for each
# row group column chunk; a footer claiming more rows than size * 8 cannot be
# true, and believing it would make the reader allocate for billions of rows.
MAX_ROWS_PER_BYTE = 8 * 1024


class ParquetReader:
    """Reads a Parquet file (decompressing ``.parquet.gz`` and the like to a temporary file)."""

    def __init__(self, file: SourceFile) -> None:
        self.file = file

    def _open(self) -> tuple[pq.ParquetFile, str, bool]:
        try:
            path, is_temporary = open_seekable(self.file)
        except OSError as exc:
            raise source_error(exc, self.file) from exc
        try:
            # INT96 (Spark, Impala, Hive) read at nanoseconds wraps after 2262: microseconds,
            # PostgreSQL's own precision, hold every year it can store.
            parquet = pq.ParquetFile(path, memory_map=False, coerce_int96_timestamp_unit="us")
        except (pa.ArrowException, OSError, ValueError) as exc:
            if is_temporary:
                os.unlink(path)
            raise self._error(exc) from exc
        try:
            self._check_metadata(parquet, os.path.getsize(path))
            check_names(parquet.schema_arrow.names, path=self.file.path, line=None)
        except ParseError:
            parquet.close()
            if is_temporary:
                os.unlink(path)
            raise
        return parquet, path, is_temporary

    def _error(self, exc: BaseException) -> ParseError:
        text = (
            printable(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        )
        hint = "the file is corrupt, truncated, encrypted or not Parquet"
        return ParseError(f"cannot read Parquet: {text}", hint=hint, path=self.file.path)

    def _check_metadata(self, parquet: pq.ParquetFile, size: int) -> None:
        metadata = parquet.metadata
        claimed = metadata.num_rows
        columns = max(metadata.num_columns, 1)
        if claimed < 0 or claimed > max(size, 1) * MAX_ROWS_PER_BYTE * columns:
            raise ParseError(
                f"the Parquet footer claims {claimed:,} rows, impossible in {size:,} bytes",
                hint="the file is corrupt; re-export it",
                path=self.file.path,
            )

    def column_names(self, *, complete: bool = False) -> list[str]:
        """The schema's top-level field names."""
        parquet, path, is_temporary = self._open()
        try:
            return list(parquet.schema_arrow.names)
        finally:
            parquet.close()
            if is_temporary:
                os.unlink(path)

    def sample(self, limit: int) -> list[SampleColumn]:
        """Parquet declares its types: the schema's fields."""
        parquet, path, is_temporary = self._open()
        try:
            return [SampleColumn(f.name, arrow_type=f.type) for f in parquet.schema_arrow]
        finally:
            parquet.close()
            if is_temporary:
                os.unlink(path)

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of ``plan.batch_rows`` rows of the planned columns, Parquet types kept."""
        parquet, path, is_temporary = self._open()
        record = 0
        try:
            batches = parquet.iter_batches(
                batch_size=plan.batch_rows, columns=plan.names, use_threads=True
            )
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowException, OSError, ValueError) as exc:
                    raise self._error(exc) from exc
                try:
                    batch = batch.select(plan.names)
                except KeyError as exc:  # a column the schema lists but no row group holds
                    raise self._error(exc) from exc
                self._check_text(batch, record)
                yield SourceBatch(batch, record)
                record += batch.num_rows
            self._check_count(parquet, record)
        finally:
            parquet.close()
            if is_temporary:
                os.unlink(path)

    def _check_count(self, parquet: pq.ParquetFile, read: int) -> None:
        """A corrupt file can yield fewer rows than its footer counts, without an error."""
        claimed = parquet.metadata.num_rows
        if read != claimed:
            raise ParseError(
                f"the Parquet footer counts {claimed:,} rows, but {read:,} could be read",
                hint="the file is corrupt; re-export it",
                path=self.file.path,
            )

    def _check_text(self, batch: pa.RecordBatch, record: int) -> None:
        """Parquet does not promise valid UTF-8 in string columns; PostgreSQL's text needs it."""
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            try:
                column.validate(full=True)
            except pa.ArrowInvalid as exc:
                raise ParseError(
                    f"column {name!r} holds text that is not valid UTF-8 "
                    f"(in records {record + 1}-{record + batch.num_rows})",
                    hint="the file is corrupt, or was written with a wrong encoding",
                    path=self.file.path,
                    column=name,
                ) from exc

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """Parquet has no lines: the 1-based record number (the raw row comes from its batch)."""
        return {record: Location(record + 1) for record in records}
