"""Spreadsheets (.xlsx, .xlsm, .xlsb, .xls, .ods) with python-calamine, one sheet per source.

Cells keep what the spreadsheet knows: numbers, booleans, dates and times
reach pgingest's conversion as their text (a whole number without ``.0``, a
date as ISO 8601), so they load into any column type that reads them, and
``create: true`` infers bigint, double precision, boolean, date or timestamp.
Empty cells are NULL; rows with no value at all are skipped, as blank lines
in CSV. A record's line is its row number in the sheet. Title rows above the
table are skipped (``excel.skip_rows``, or the header row found as
header_row.py says).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook

from pgingest.config import ExcelOptions
from pgingest.convert.arrow import dump_json
from pgingest.discover import SourceFile
from pgingest.errors import ParseError, SourceError
from pgingest.infer import SampleColumn
from pgingest.parse import Location, ReadPlan, SourceBatch
from pgingest.parse.header_row import find_header
from pgingest.parse.sheet_limits import check_spreadsheet
from pgingest.parse.stream import open_seekable, printable, source_error
from pgingest.parse.text_rows import TextRow, check_names, text_batches

__all__ = ["ExcelReader"]

logger = logging.getLogger(__name__)

# Whole numbers up to 2**53 are exact in a double (Excel stores every number as one).
_EXACT_INTEGER = 2**53


def cell_text(value: Any) -> str | None:
    """A cell as the text PostgreSQL's input functions read; None for an empty cell."""
    if value is None or value == "":
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_INTEGER:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):  # pragma: no cover - calamine gives scalars
        return dump_json(value)
    return str(value)


def _sample_value(value: Any) -> Any:
    """A cell as type inference should see it (strings are text, numbers stay numbers)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_INTEGER:
        return int(value)
    if isinstance(value, (bool, int, float, str)):
        return value
    return cell_text(value)


class ExcelReader:
    """Reads one sheet of a spreadsheet."""

    def __init__(self, file: SourceFile, options: ExcelOptions) -> None:
        self.file = file
        self.options = options
        self._names: list[str] | None = None
        self._is_checked = False  # its size, against settings.limits (sheet_limits.py)
        self._header_note: str | None = None  # title rows skipped above the header

    def _error(self, exc: BaseException) -> ParseError:
        text = (
            printable(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        )
        return ParseError(
            f"cannot read the spreadsheet: {text}",
            hint="the file is corrupt, password-protected, or not a spreadsheet",
            path=self.file.path,
        )

    def _rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(sheet row number, cells) of every row of the chosen sheet."""
        try:
            path, is_temporary = open_seekable(self.file)
        except OSError as exc:
            raise source_error(exc, self.file) from exc
        workbook: CalamineWorkbook | None = None
        try:
            if not self._is_checked:
                check_spreadsheet(path, self.options, self.file.limits, shown=self.file.path)
                self._is_checked = True
            workbook = CalamineWorkbook.from_path(path)
            sheet = self._sheet(workbook)
            # iter_rows starts at the sheet's first row, empty ones included.
            for index, cells in enumerate(sheet.iter_rows()):
                yield index + 1, cells
        except (CalamineError, OSError, ValueError) as exc:
            raise self._error(exc) from exc
        finally:
            if workbook is not None:
                workbook.close()
            if is_temporary:
                os.unlink(path)

    def _sheet(self, workbook: CalamineWorkbook) -> CalamineSheet:
        wanted = self.options.sheet
        names = list(workbook.sheet_names)
        if wanted is None:
            if not names:
                raise ParseError("the spreadsheet has no sheets", path=self.file.path)
            return workbook.get_sheet_by_index(0)
        if isinstance(wanted, int):
            if not 0 <= wanted < len(names):
                raise SourceError(
                    f"the spreadsheet has no sheet at position {wanted} "
                    f"(it has {len(names)}, counted from 0)",
                    hint=f"sheets: {', '.join(repr(n) for n in names)}",
                    path=self.file.path,
                )
            return workbook.get_sheet_by_index(wanted)
        if wanted not in names:
            raise SourceError(
                f"the spreadsheet has no sheet named {wanted!r}",
                hint=f"sheets: {', '.join(repr(n) for n in names)}",
                path=self.file.path,
            )
        return workbook.get_sheet_by_name(wanted)

    def _after_header(self) -> tuple[tuple[int, list[Any]] | None, Iterator[tuple[int, list[Any]]]]:
        """The header row (None without one) and the rows after it (see header_row.py)."""
        rows = iter(self._rows())
        for _ in range(self.options.skip_rows):
            if next(rows, None) is None:
                break
        if not self.options.header:
            return None, rows
        found = find_header(rows)
        if found.header is None:
            raise ParseError("the sheet is empty: it has no header row", path=self.file.path)
        if found.skipped and self._header_note is None:
            self._header_note = found.note(self.options.skip_rows)
            logger.warning("%s: %s", self.file.path, self._header_note)
        return found.header, found.rest

    @property
    def notes(self) -> tuple[str, ...]:
        """What the run report should say about how the sheet was read (title rows skipped)."""
        return () if self._header_note is None else (f"{self.file.path}: {self._header_note}",)

    def _records(self) -> Iterator[tuple[list[str], TextRow | None]]:
        """The header names, then each record (None first, for the header alone)."""
        header, rows = self._after_header()
        names = list(self.options.column_names or [])
        header_line = self.options.skip_rows + 1
        if header is not None:
            header_line, cells = header
            found = [cell_text(c) or "" for c in cells]
            while found and found[-1] == "":
                found.pop()  # columns past the last named one are empty margins
            if not names:
                names = found
        check_names(names, path=self.file.path, line=header_line)
        yield names, None
        record = 0
        width = len(names)
        for line, cells in rows:
            values = [cell_text(c) for c in cells]
            if all(v is None for v in values):
                continue
            filled = max(i for i, v in enumerate(values) if v is not None) + 1
            if filled > width:
                raw = ",".join("" if v is None else v for v in values[:filled])
                problem = f"expected {width} fields, found {filled}"
                yield names, TextRow(record, line, (), problem, raw)
            else:
                yield names, TextRow(record, line, values[:width])
            record += 1

    def column_names(self, *, complete: bool = False) -> list[str]:
        """The header row's names (or the configured column_names)."""
        if self._names is None:
            names, _ = next(iter(self._records()))
            self._names = names
        return list(self._names)

    def _data(self) -> Iterator[TextRow]:
        for _, row in self._records():
            if row is not None:
                yield row

    def read(self, plan: ReadPlan) -> Iterator[SourceBatch]:
        """Batches of the plan's columns, every cell as text."""
        return text_batches(self._data(), self.column_names(), plan, path=self.file.path)

    def sample(self, limit: int) -> list[SampleColumn]:
        """The first ``limit`` records' cells (numbers as numbers, the rest as text)."""
        names = self.column_names()
        columns: dict[str, list[Any]] = {name: [] for name in names}
        for cells in self._sample_rows(limit):
            for index, name in enumerate(names):
                columns[name].append(_sample_value(cells[index]) if index < len(cells) else None)
        return [
            SampleColumn(name, values, strings_are_text=True) for name, values in columns.items()
        ]

    def _sample_rows(self, limit: int) -> Iterator[list[Any]]:
        _header, rows = self._after_header()
        taken = 0
        for _line, cells in rows:
            if taken >= limit:
                return
            if all(cell_text(c) is None for c in cells):
                continue
            yield cells
            taken += 1

    def locate(self, records: Iterable[int]) -> dict[int, Location]:
        """Each record's row number in the sheet, and its cells joined by commas."""
        wanted = set(records)
        found: dict[int, Location] = {}
        if not wanted:
            return found
        last = max(wanted)
        for row in self._data():
            if row.record in wanted:
                raw = row.raw or ",".join("" if v is None else v for v in row.values)
                found[row.record] = Location(row.line, raw)
            if row.record >= last:
                break
        return found
