"""A spreadsheet's size, read from its XML before the spreadsheet reader allocates the sheet.

python-calamine holds a whole sheet as one rectangle of cells, sized by the
cells the sheet names: a 1.5 KB .xlsx naming cell XFD1048576 asked it for
550 GB (issue 17). An .xlsx (or .xlsm) is a zip archive of XML parts, so the
chosen sheet's cell references (``<c r="B7">``) and ``<dimension>`` are
scanned here, streaming, and the rectangle held to ``max_sheet_cells``; every
part's declared expansion is held to the decompression limits first. Other
spreadsheet kinds (.xls, .xlsb, .ods) get only the decompression check.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator

from pgingest.config import ExcelOptions, Limits
from pgingest.decompression import LIMITS_HINT, check_compression_ratio
from pgingest.errors import ParseError, SourceError

__all__ = ["check_spreadsheet"]

# The small parts that map sheet names to their XML are read whole up to this size.
_INDEX_PART_BYTES = 8 << 20
# Scanned in pieces this large; a reference cut at a piece's end is found in the overlap.
_SCAN_BYTES = 1 << 20
_OVERLAP_BYTES = 64

_REFERENCE = re.compile(rb'<(?:c|dimension)\b[^>]*?\br(?:ef)?="\$?([A-Z]{1,3})\$?(\d{1,7})')
_RANGE_END = re.compile(rb'<dimension\b[^>]*?\bref="[^":]*:\$?([A-Z]{1,3})\$?(\d{1,7})"')
_SHEET = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_ATTRIBUTE = re.compile(rb'([\w:]+)="([^"]*)"')
_RELATIONSHIP = re.compile(rb"<Relationship\b[^>]*>")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def check_spreadsheet(path: str, options: ExcelOptions, limits: Limits, *, shown: str) -> None:
    """Fail a spreadsheet whose parts expand past the limits or whose sheet is too large."""
    if not zipfile.is_zipfile(path):
        return  # .xls: a compound document, read as it is
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                check_compression_ratio(
                    info.file_size, info.compress_size, limits, path=shown, what=info.filename
                )
            for part in _sheet_parts(archive, options):
                _check_sheet(archive, part, limits, shown)
    except (zipfile.BadZipFile, OSError, KeyError, NotImplementedError, RuntimeError) as exc:
        raise SourceError(f"cannot read the spreadsheet: {exc}", path=shown) from exc


def _attributes(tag: bytes) -> dict[str, str]:
    found = {}
    for name, value in _ATTRIBUTE.findall(tag):
        found[name.decode().rpartition(":")[2]] = value.decode("utf-8", "replace")
    return found


def _sheet_parts(archive: zipfile.ZipFile, options: ExcelOptions) -> list[str]:
    """The XML part of the sheet the source reads; every worksheet when that is unclear."""
    names = set(archive.namelist())
    every = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return every
    with archive.open("xl/workbook.xml") as handle:
        sheets = [_attributes(t) for t in _SHEET.findall(handle.read(_INDEX_PART_BYTES))]
    with archive.open("xl/_rels/workbook.xml.rels") as handle:
        relations = [_attributes(t) for t in _RELATIONSHIP.findall(handle.read(_INDEX_PART_BYTES))]
    targets = {r.get("Id"): r.get("Target", "") for r in relations}
    wanted = options.sheet
    if wanted is None:
        chosen = sheets[:1]
    elif isinstance(wanted, int):
        chosen = sheets[wanted : wanted + 1]
    else:
        chosen = [s for s in sheets if s.get("name") == wanted]
    parts = []
    for sheet in chosen:
        target = targets.get(sheet.get("id"), "")
        part = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        parts.append(posixpath.normpath(part))
    return [p for p in parts if p in names] or every


def _pieces(archive: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    tail = b""
    with archive.open(part) as handle:
        while block := handle.read(_SCAN_BYTES):
            yield tail + block
            tail = block[-_OVERLAP_BYTES:]


def _check_sheet(archive: zipfile.ZipFile, part: str, limits: Limits, shown: str) -> None:
    low_row = low_column = None
    high_row = high_column = 0
    for piece in _pieces(archive, part):
        for pattern in (_REFERENCE, _RANGE_END):
            for letters, digits in pattern.findall(piece):
                row, column = int(digits), _column_number(letters)
                low_row = row if low_row is None else min(low_row, row)
                low_column = column if low_column is None else min(low_column, column)
                high_row, high_column = max(high_row, row), max(high_column, column)
        if low_row is None or low_column is None:
            continue
        cells = (high_row - low_row + 1) * (high_column - low_column + 1)
        if cells > limits.max_sheet_cells:
            raise ParseError(
                f"the sheet spans {high_row - low_row + 1:,} rows by "
                f"{high_column - low_column + 1:,} columns ({cells:,} cells), more than "
                f"max_sheet_cells ({limits.max_sheet_cells:,}); the spreadsheet reader would "
                "hold every one in memory",
                hint=LIMITS_HINT.format("max_sheet_cells"),
                path=shown,
            )
