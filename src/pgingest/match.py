"""Matching a file's columns to its table's, and what to ask each reader for.

Columns match by name: exactly first, then ignoring case when that is
unambiguous (a CSV header ``Event_ID`` meets column ``event_id``). A table
column the file lacks gets its default; a file column the table lacks is an
error naming it, unless the source says ``ignore_extra_columns``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pgingest.config import Source
from pgingest.discover import SourceFile
from pgingest.errors import SourceError
from pgingest.load.catalog import Table
from pgingest.parse import ColumnRead, ReadPlan
from pgingest.types import Kind, TargetColumn, arrow_type_for

__all__ = ["ColumnMatch", "UnitPlan", "match_columns"]


@dataclass(frozen=True)
class ColumnMatch:
    """A file column and the table column it loads into."""

    file_column: str
    target: TargetColumn


@dataclass(frozen=True)
class UnitPlan:
    """How one file's columns load into its table."""

    file: SourceFile
    table: Table
    matches: tuple[ColumnMatch, ...]
    ignored: tuple[str, ...] = ()

    @property
    def targets(self) -> list[TargetColumn]:
        """Target columns, in the order batches carry them."""
        return [m.target for m in self.matches]

    def read_plan(self, *, batch_rows: int, careful: bool) -> ReadPlan:
        """What to ask the reader for; fast mode lets pyarrow type what it types like COPY."""
        columns = []
        for match in self.matches:
            kind = match.target.kind
            native = None if careful else _native_type(self.file.format, match.target, kind)
            columns.append(
                ColumnRead(
                    name=match.file_column,
                    native_type=native,
                    json_text=kind in (Kind.JSON, Kind.JSONB),
                    is_list=kind is Kind.ARRAY,
                )
            )
        return ReadPlan(columns=tuple(columns), batch_rows=batch_rows, careful=careful)


# Kinds pyarrow's CSV reader converts exactly as PostgreSQL's input functions
# do for well-formed values (anything else fails the fast path and is read again
# carefully): integers, floats, booleans, ISO dates, zone-less ISO timestamps.
_CSV_NATIVE = {
    Kind.INT16,
    Kind.INT32,
    Kind.INT64,
    Kind.FLOAT32,
    Kind.FLOAT64,
    Kind.BOOL,
    Kind.DATE,
    Kind.TIMESTAMP,
    Kind.TEXT,
    Kind.NUMERIC,  # decimal(p, s): a value with more fractional digits fails the fast path
}
# pyarrow's JSON reader: JSON numbers to integers, floats and exact decimals; booleans; strings.
_JSON_NATIVE = {
    Kind.INT16,
    Kind.INT32,
    Kind.INT64,
    Kind.FLOAT32,
    Kind.FLOAT64,
    Kind.BOOL,
    Kind.TEXT,
    Kind.NUMERIC,
}


def _native_type(file_format: str, target: TargetColumn, kind: Kind) -> pa.DataType | None:
    if kind is Kind.NUMERIC and target.type.numeric_precision_scale is None:
        return None  # unconstrained: the scale is chosen per batch from the text
    if file_format in ("csv", "tsv") and kind in _CSV_NATIVE:
        return arrow_type_for(target.type)
    if file_format in {"ndjson", "json"} and kind in _JSON_NATIVE:
        return arrow_type_for(target.type)
    return None


def match_columns(
    file_columns: list[str], table: Table, source: Source, file: SourceFile
) -> UnitPlan:
    """Pair each file column with its table column; errors name what does not match."""
    by_name = {c.name: c for c in table.columns}
    by_folded: dict[str, list[TargetColumn]] = {}
    for column in table.columns:
        by_folded.setdefault(column.name.lower(), []).append(column)
    matches: list[ColumnMatch] = []
    extra: list[str] = []
    used: set[str] = set()
    for name in file_columns:
        target = by_name.get(name)
        if target is None:
            folded = by_folded.get(name.lower(), [])
            target = folded[0] if len(folded) == 1 else None
        if target is None or target.name in used:
            extra.append(name)
            continue
        used.add(target.name)
        matches.append(ColumnMatch(name, target))
    if extra and not source.ignore_extra_columns:
        listed = ", ".join(repr(name) for name in extra[:10])
        more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
        raise SourceError(
            f"file column{'s' if len(extra) > 1 else ''} {listed}{more} not in table {table.name}",
            hint='add the column to the table, or set "ignore_extra_columns": true on the source',
            path=file.path,
            table=str(table.name),
        )
    if file.format in ("json", "ndjson"):
        # A JSON record may leave a key out; columns without a default then read
        # as NULL, which is their default anyway.
        for column in table.columns:
            if column.name not in used and not column.has_default:
                matches.append(ColumnMatch(column.name, column))
    missing = [
        c.name
        for c in table.columns
        if c.name not in used
        and c.not_null
        and not c.has_default
        and file.format not in ("json", "ndjson")
    ]
    if missing:
        raise SourceError(
            f"the file has no column {', '.join(repr(m) for m in missing)}, which table "
            f"{table.name} requires (NOT NULL without a default)",
            hint="add the column to the file, or give the table column a default",
            path=file.path,
            table=str(table.name),
        )
    if not matches:
        raise SourceError(
            f"no column of the file matches a column of table {table.name}",
            hint="check the header (or csv.column_names) against the table",
            path=file.path,
            table=str(table.name),
        )
    return UnitPlan(file=file, table=table, matches=tuple(matches), ignored=tuple(extra))
