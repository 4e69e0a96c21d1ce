"""Fixed-width text: each column at the character positions the config gives.

Positions count characters (not bytes) from 1, as record layouts print them.
Values are stripped of surrounding spaces; a value listed in ``null`` (by
default the empty string) is NULL, and so is a column past a short line's end.
Blank lines are skipped. Text is read in the source's ``encoding`` (default
UTF-8, or what a byte-order mark says).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pgingest.config import FixedWidthOptions
from pgingest.discover import SourceFile
from pgingest.errors import ParseError
from pgingest.infer import SampleColumn
from pgingest.parse import Location, ReadPlan, SourceBatch
from pgingest.parse.encoding import resolve_encoding
from pgingest.parse.stream import open_utf8_binary, source_error
from pgingest.parse.text_rows import TextRow, text_batches

__all__ = ["FixedWidthReader"]


class FixedWidthReader:
    """Reads fixed-width records."""

    def __init__(
        self, file: SourceFile, options: FixedWidthOptions, *, encoding: str | None = None
    ) -> None:
        self.file = file
        self.options = options
        self._declared_encoding = encoding
        self._names = [c.name for c in options.columns]
        self._slices = [slice(c.start - 1, c.start - 1 + c.width) for c in options.columns]
        self._null = set(options.null)

    def _lines(self) -> Iterator[tuple[int, str]]:
        try:
            encoding = resolve_encoding(self.file, self._declared_encoding).codec
            with open_utf8_binary(self.file, encoding) as raw:
                offset = 0
                for line_number, data in enumerate(raw, start=1):
                    try:
                        line = data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ParseError(
                            f"cannot decode the file as UTF-8: {exc.reason} "
                            f"at byte offset {offset + exc.start:,}",
                            hint='set "encoding" on the source, e.g. "latin-1" or "cp1252"',
                            path=self.file.path,
                            line=line_number,
                        ) from exc
                    offset += len(data)
                    yield line_number, line.rstrip("\r\n").removeprefix("\ufeff")
        except OSError as exc:
            raise source_error(exc, self.file) from exc

    def _rows(self) -> Iterator[TextRow]:
        record = 0
        for line_number, line in self._lines():
            if line_number <= self.options.skip_rows or not line.strip():
                continue
            values: list[str | None] = []
            for part in self._slices:
                value = line[part].strip()
                values.append(None if value in self._null else value)
            yield TextRow(record, line_number, values, raw=line)
            record += 1

    def column_names(self, *, complete: bool = False) -> list[str]:
        """The configured columns."""
        return list(self._names)

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of the plan's columns, as text."""
        return text_batches(self._rows(), self._names, plan, path=self.file.path)

    def sample(self, limit: int) -> list[SampleColumn]:
        """The first ``limit`` records' values."""
        columns: list[list[str | None]] = [[] for _ in self._names]
        for row in self._rows():
            if row.record >= limit:
                break
            for column, value in zip(columns, row.values, strict=True):
                column.append(value)
        return [
            SampleColumn(name, values) for name, values in zip(self._names, columns, strict=True)
        ]

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """Each record's line and text."""
        wanted = set(records)
        found: dict[int, Location] = {}
        if not wanted:
            return found
        last = max(wanted)
        for row in self._rows():
            if row.record in wanted:
                found[row.record] = Location(row.line, row.raw)
            if row.record >= last:
                break
        return found
