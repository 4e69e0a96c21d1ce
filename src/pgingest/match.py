"""Matching a file's columns to its table's, and what to ask each reader for.

Columns match by name: exactly first, then ignoring case when that is
unambiguous (a CSV header ``Event_ID`` meets column ``event_id``). A table
column the file lacks gets its default; a file column the table lacks is an
error naming it, unless the source says ``ignore_extra_columns`` (dropped) or
names a ``rescued_column`` (read as text and kept there, per row). A source's
``rename`` maps file column names to table column names before any of this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pgingest.config import Source
from pgingest.discover import SourceFile
from pgingest.errors import SourceError
from pgingest.load.catalog import Table
from pgingest.naming import MAX_IDENTIFIER_BYTES, truncate_identifier
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
    lineage: TargetColumn | None = None  # filled with the file's path on every row
    lacking: tuple[str, ...] = ()  # table columns the file does not have (they get defaults)
    rescued: TargetColumn | None = None  # the jsonb column of the source's rescued_column
    rescued_fields: tuple[str, ...] = ()  # file columns the table lacks, read into ``rescued``

    @property
    def converted_targets(self) -> list[TargetColumn]:
        """Target columns of the file's own columns, in the order batches carry them."""
        return [m.target for m in self.matches]

    @property
    def targets(self) -> list[TargetColumn]:
        """Every column copied: the file's, the rescued column, then the lineage column."""
        added = [c for c in (self.rescued, self.lineage) if c is not None]
        return self.converted_targets + added

    def with_lineage(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The converted batch with the lineage column (the file's path) appended."""
        if self.lineage is None:
            return batch
        paths = pa.array([self.file.path], pa.string()).take(
            pa.array(np.zeros(batch.num_rows, dtype=np.int32))
        )
        return batch.append_column(self.lineage.name, paths)

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
        # Read after the matched columns, as text, for the rescued column only.
        columns += [ColumnRead(name=name) for name in self.rescued_fields]
        return ReadPlan(columns=tuple(columns), batch_rows=batch_rows, careful=careful)


# Kinds pyarrow's CSV reader converts exactly as PostgreSQL's input functions
# do for every value it accepts (anything else fails the fast path and is read
# again carefully): booleans, ISO dates. Integers (it reads 0xFFFF as -1),
# floats (1e-50 as 0) and timestamps ('2024-01-05 10') arrive as text and are
# read by convert/text.py, which sends what is not canonical to the server.
_CSV_NATIVE = {
    Kind.BOOL,
    Kind.DATE,
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


_JSON_FORMATS = ("json", "ndjson")
# How many column names an error lists before "and N more".
_LISTED_NAMES = 10


def match_columns(
    file_columns: list[str], table: Table, source: Source, file: SourceFile
) -> UnitPlan:
    """Pair each file column with its table column; errors name what does not match."""
    lineage = _lineage_column(table, source, file)
    rescued = _rescued_column(table, source, file)
    filled = {c.name for c in (lineage, rescued) if c is not None}
    # A file field named like a filled column is not loaded into it (rescued, if any).
    columns = [c for c in table.columns if c.name not in filled]
    _check_renames(file_columns, source, table, file)
    _check_truncated_names([source.rename.get(n, n) for n in file_columns], file)
    matches, extra = _pair_by_name(file_columns, columns, source)
    if extra and not source.ignore_extra_columns and rescued is None:
        raise _extra_columns_error(extra, file_columns, table, file)
    if not matches:
        # Even with ignore_extra_columns: a file sharing no column with the table
        # would load rows of defaults and NULLs, one per record.
        raise _no_shared_column_error(file_columns, table, file)
    used = {m.target.name for m in matches}
    lacking = [c for c in columns if c.name not in used]
    if file.format in _JSON_FORMATS:
        # A JSON record may leave a key out; columns without a default then read
        # as NULL, which is their default anyway.
        matches += [ColumnMatch(c.name, c) for c in lacking if not c.has_default]
    else:
        _check_required(lacking, table, file)
    return UnitPlan(
        file=file,
        table=table,
        matches=tuple(matches),
        ignored=tuple(extra),
        lineage=lineage,
        lacking=tuple(c.name for c in lacking),
        rescued=rescued,
        rescued_fields=tuple(extra) if rescued is not None else (),
    )


def _pair_by_name(
    file_columns: list[str], columns: list[TargetColumn], source: Source
) -> tuple[list[ColumnMatch], list[str]]:
    """Matches by name (exact, then case-folded when unambiguous), and the file columns left."""
    by_name = {c.name: c for c in columns}
    by_folded: dict[str, list[TargetColumn]] = {}
    for column in columns:
        by_folded.setdefault(column.name.lower(), []).append(column)
    matches: list[ColumnMatch] = []
    extra: list[str] = []
    used: set[str] = set()
    for name in file_columns:
        # A long header name meets the column PostgreSQL made from it (cut to 63 bytes).
        stored = truncate_identifier(source.rename.get(name, name))
        target = by_name.get(stored)
        if target is None:
            folded = by_folded.get(stored.lower(), [])
            target = folded[0] if len(folded) == 1 else None
        if target is None or target.name in used:
            extra.append(name)
            continue
        used.add(target.name)
        matches.append(ColumnMatch(name, target))
    return matches, extra


def _extra_columns_error(
    extra: list[str], file_columns: list[str], table: Table, file: SourceFile
) -> SourceError:
    """File columns the table lacks; a header that did not split suggests its delimiter."""
    listed = ", ".join(repr(name) for name in extra[:_LISTED_NAMES])
    more = f" and {len(extra) - _LISTED_NAMES} more" if len(extra) > _LISTED_NAMES else ""
    delimiter = _likely_delimiter(file_columns) if file.format in ("csv", "tsv") else None
    if delimiter is not None:
        return SourceError(
            f"the header reads as {len(file_columns)} column(s) {listed}{more}, which "
            f"table {table.name} lacks; the file looks delimited by {delimiter!r}",
            hint=f'set "csv": {{"delimiter": {delimiter!r}}} on the source'.replace("'", '"'),
            path=file.path,
            table=str(table.name),
        )
    return SourceError(
        f"file column{'s' if len(extra) > 1 else ''} {listed}{more} not in table {table.name}",
        hint='add the column to the table, or set "ignore_extra_columns": true on the source',
        path=file.path,
        table=str(table.name),
    )


def _no_shared_column_error(file_columns: list[str], table: Table, file: SourceFile) -> SourceError:
    listed = ", ".join(repr(n) for n in file_columns[:_LISTED_NAMES])
    return SourceError(
        f"no column of the file matches a column of table {table.name}"
        + (f" (file columns: {listed})" if file_columns else ""),
        hint="check the file's column names against the table's"
        + (" (or set csv.column_names)" if file.format in ("csv", "tsv") else ""),
        path=file.path,
        table=str(table.name),
    )


def _check_required(lacking: list[TargetColumn], table: Table, file: SourceFile) -> None:
    """A NOT NULL column without a default that the file lacks cannot load a row."""
    missing = [c.name for c in lacking if c.not_null and not c.has_default]
    if missing:
        raise SourceError(
            f"the file has no column {', '.join(repr(m) for m in missing)}, which table "
            f"{table.name} requires (NOT NULL without a default)",
            hint="add the column to the file, or give the table column a default",
            path=file.path,
            table=str(table.name),
        )


def _check_renames(file_columns: list[str], source: Source, table: Table, file: SourceFile) -> None:
    """A rename naming a column the file lacks is a mistake: it would load NULLs."""
    absent = [name for name in source.rename if name not in file_columns]
    if absent:
        listed = ", ".join(repr(name) for name in absent)
        raise SourceError(
            f"rename names file column{'s' if len(absent) > 1 else ''} {listed}, which the "
            "file does not have",
            hint=f"the file's columns are {', '.join(repr(n) for n in file_columns[:20])}; "
            f"fix the rename of source {source.name!r}",
            path=file.path,
            table=str(table.name),
        )


def _check_truncated_names(file_columns: list[str], file: SourceFile) -> None:
    """Two names that PostgreSQL would cut to the same 63 bytes cannot both load."""
    seen: dict[str, str] = {}
    for name in file_columns:
        stored = truncate_identifier(name)
        if stored != name and stored in seen:
            raise SourceError(
                f"file columns {seen[stored]!r} and {name!r} are the same in their first "
                f"{MAX_IDENTIFIER_BYTES} bytes, the longest name PostgreSQL keeps",
                hint="rename one in the file (or give csv.column_names)",
                path=file.path,
            )
        seen.setdefault(stored, name)


# Delimiters to suggest when a header does not split on the configured one.
_OTHER_DELIMITERS = (";", "\t", "|", ",")


def _likely_delimiter(names: list[str]) -> str | None:
    if len(names) > 2:
        return None
    joined = "".join(names)
    counts = {d: joined.count(d) for d in _OTHER_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] >= 1 else None


def _lineage_column(table: Table, source: Source, file: SourceFile) -> TargetColumn | None:
    if source.file_column is None:
        return None
    return _setting_column(
        table,
        file,
        _SettingColumn("file_column", source.file_column, Kind.TEXT, "text"),
        missing_hint="add it as a text column, or let create: true make the table",
    )


def _rescued_column(table: Table, source: Source, file: SourceFile) -> TargetColumn | None:
    """The source's rescued_column in the table: it must be a jsonb column."""
    if source.rescued_column is None:
        return None
    name = source.rescued_column
    return _setting_column(
        table,
        file,
        _SettingColumn("rescued_column", name, Kind.JSONB, "jsonb"),
        missing_hint=f"add it (ALTER TABLE {table.name} ADD COLUMN {name} jsonb), "
        'or set "create": true to let pgingest add it',
        wrong_kind_hint="change the column's type to jsonb, or name another column",
    )


@dataclass(frozen=True)
class _SettingColumn:
    """A column a source setting names (file_column, rescued_column) and the kind it needs."""

    setting: str
    name: str
    kind: Kind
    kind_name: str


def _setting_column(
    table: Table,
    file: SourceFile,
    wanted: _SettingColumn,
    *,
    missing_hint: str,
    wrong_kind_hint: str | None = None,
) -> TargetColumn:
    """The table's column a setting names; a clear error when it is missing or of another kind."""
    column = table.column(wanted.name)
    if column is None:
        raise SourceError(
            f"table {table.name} has no column {wanted.name!r} (the source's {wanted.setting})",
            hint=missing_hint,
            path=file.path,
            table=str(table.name),
        )
    if column.kind is not wanted.kind:
        raise SourceError(
            f"{wanted.setting} {wanted.name!r} of table {table.name} is {column.type.name}; "
            f"it must be {wanted.kind_name}",
            hint=wrong_kind_hint,
            path=file.path,
            table=str(table.name),
        )
    return column
