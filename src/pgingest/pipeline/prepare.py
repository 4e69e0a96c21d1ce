"""Before loading: each source's target table (read, or created from a sample) and its units."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from pgingest.config import Source
from pgingest.discover import DiscoveredSource, SourceFile, file_error
from pgingest.errors import ConfigError, LoadError, PgIngestError
from pgingest.infer import (
    SAMPLE_FILES,
    SAMPLE_ROWS,
    InferredColumn,
    SampleColumn,
    TypeConflictError,
    infer_columns,
)
from pgingest.load.catalog import Table, read_table
from pgingest.load.create import add_columns, create_table
from pgingest.parse import open_reader
from pgingest.pipeline.unit import ReplaceGroup, Unit, as_replace_units
from pgingest.split import CHUNK_BYTES, can_split, remaining_chunks, split_file
from pgingest.store.manifest import (
    Decision,
    LoadedEntry,
    ManifestLookup,
    decide,
    failed_paths,
    loaded_entries,
    loaded_paths,
)

__all__ = [
    "PreparedSource",
    "in_apply_order",
    "infer_with_config",
    "prepare_source",
    "preview_source",
    "sample_files",
]

logger = logging.getLogger(__name__)

# A file that will not load: the file (None: not one file), the stage, and why.
_Failure = tuple[SourceFile | None, str, PgIngestError]


@dataclass(frozen=True)
class PreparedSource:
    """A source ready to load: its table, units to run, and what is skipped or failed."""

    source: Source
    table: Table | None
    units: list[Unit] = field(default_factory=list)
    skipped: list[Decision] = field(default_factory=list)
    failed: list[_Failure] = field(default_factory=list)
    created: bool = False
    group: ReplaceGroup | None = None  # mode replace: every file in one transaction
    warnings: tuple[str, ...] = ()  # for the run report (e.g. a column widened to text)


def sample_files(
    files: Sequence[SourceFile], source: Source, problems: dict[str, PgIngestError] | None = None
) -> list[tuple[str, list[SampleColumn]]]:
    """(path, sample) of the first files that can be read (one that cannot fails later).

    Files that cannot be read are noted in ``problems`` (path → error) when given.
    """
    samples: list[tuple[str, list[SampleColumn]]] = []
    for file in files:
        if len(samples) >= SAMPLE_FILES:
            break
        try:
            sample = open_reader(file, source).sample(SAMPLE_ROWS)
            samples.append((file.path, [_renamed(column, source) for column in sample]))
        except (PgIngestError, OSError) as exc:
            error = file_error(exc, file.path) if isinstance(exc, OSError) else exc
            logger.info("not sampling %s for create: %s", file.path, error.describe())
            if problems is not None:
                problems[file.path] = error.with_context(path=file.path)
    return samples


def _renamed(column: SampleColumn, source: Source) -> SampleColumn:
    """The sampled column under its table name (the source's rename)."""
    name = source.rename.get(column.name, column.name)
    return column if name == column.name else replace(column, name=name)


class _UnsampleableError(LoadError):
    """No file of a source could be read, so its table cannot be created from them."""

    def __init__(self, table: str, problems: dict[str, PgIngestError]) -> None:
        super().__init__(
            f"cannot create table {table}: none of its files could be read",
            hint="fix or remove the files, or create the table yourself",
            table=table,
        )
        self.problems = problems


def infer_with_config(
    samples: list[tuple[str, list[SampleColumn]]],
    source: Source,
    index: int,
    *,
    warnings: list[str] | None = None,
) -> list[InferredColumn]:
    """Column types from samples; a column two files disagree on becomes text, with a warning.

    Only that column changes: the source's files still load, and no other
    source is held up (issue 13). Each warning is logged and added to ``warnings``.
    """
    conflicts: list[TypeConflictError] = []
    columns = infer_columns(
        [s for _, s in samples],
        files=[p for p, _ in samples],
        fixed=set(source.columns),
        conflicts=conflicts,
    )
    for conflict in conflicts:
        warning = (
            f"source {source.name} (sources[{index}]): {conflict}; the column is text "
            f'(to choose its type: "columns": {{"{conflict.column}": "{conflict.first[1]}"}})'
        )
        logger.warning("%s", warning)
        if warnings is not None:
            warnings.append(warning)
    return columns


def _evolve(
    conn: psycopg.Connection[Any],
    table: Table,
    found: DiscoveredSource,
    index: int,
    warnings: list[str],
) -> Table:
    """Add the columns the files have and the table lacks (types from the files)."""
    source = found.source
    known = {c.name.lower() for c in table.columns}
    having: list[SourceFile] = []
    for file in found.files:
        try:
            names = open_reader(file, source).column_names()
        except (PgIngestError, OSError):
            continue  # the file fails with its own error when it loads
        names = [source.rename.get(n, n) for n in names]
        filled = (source.file_column, source.rescued_column)
        if any(n.lower() not in known and n not in filled for n in names):
            having.append(file)
    if not having:
        return table
    inferred = infer_with_config(sample_files(having, source), source, index, warnings=warnings)
    filled = (source.file_column, source.rescued_column)
    new = [c for c in inferred if c.name.lower() not in known and c.name not in filled]
    add_columns(conn, table.name, new, overrides=source.columns, source_index=index)
    logger.info("added %d columns to %s: %s", len(new), table.name, ", ".join(c.name for c in new))
    evolved = read_table(conn, table.name)
    assert evolved is not None
    return evolved


def prepare_source(
    conn: psycopg.Connection[Any],
    found: DiscoveredSource,
    index: int,
    *,
    retry_failed: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
    max_rejects: int | None = None,
    lookup: ManifestLookup | None = None,
) -> PreparedSource:
    """For a run: the source's table (created or evolved as the source asks) and its units.

    With ``retry_failed``, only files whose last attempt failed are considered.
    ``lookup`` is what the manifest says of the run's files, read once for every
    source (``store.manifest.look_up``); without it the source asks on its own.
    """
    if retry_failed:
        found = _only_failed_files(conn, found, lookup)
    warnings: list[str] = []
    try:
        table, created = _ensure_table(conn, found, index, warnings)
    except ConfigError:
        raise  # the whole run is misconfigured, not this source's files
    except PgIngestError as exc:
        return _unprepared(found, exc, warnings)
    table_name, paths = str(found.source.table_name), [f.path for f in found.files]
    if lookup is not None:
        entries = lookup.entries(table_name, paths)
    else:
        entries = loaded_entries(conn, table_name, paths)
    prepared = PreparedSource(
        found.source,
        table,
        failed=_discovery_failures(found),
        created=created,
        warnings=tuple(warnings),
    )
    return _decide_files(conn, prepared, found.files, entries, _Splitting(chunk_bytes, max_rejects))


def preview_source(
    conn: psycopg.Connection[Any],
    found: DiscoveredSource,
    index: int,
    *,
    has_manifest: bool,
    chunk_bytes: int = CHUNK_BYTES,
    max_rejects: int | None = None,
) -> PreparedSource:
    """For ``pgingest plan``: what a run would do with the source's files; changes nothing.

    A table the run would create is None here (its files are not units);
    ``has_manifest`` is false before the first run made schema pgingest.
    """
    try:
        table = _existing_table(conn, found.source, index)
    except ConfigError:
        raise
    except PgIngestError as exc:
        return _unprepared(found, exc, [])
    paths = [f.path for f in found.files]
    entries = loaded_entries(conn, str(found.source.table_name), paths) if has_manifest else {}
    prepared = PreparedSource(found.source, table, failed=_discovery_failures(found))
    return _decide_files(conn, prepared, found.files, entries, _Splitting(chunk_bytes, max_rejects))


@dataclass(frozen=True)
class _Splitting:
    """When a large file loads as chunks (see split.can_split)."""

    chunk_bytes: int
    max_rejects: int | None


def _only_failed_files(
    conn: psycopg.Connection[Any], found: DiscoveredSource, lookup: ManifestLookup | None
) -> DiscoveredSource:
    """The source with only the files whose last attempt failed (``--retry-failed``)."""
    table_name, paths = str(found.source.table_name), [f.path for f in found.files]
    if lookup is not None:
        retry = lookup.failed_paths(table_name, paths)
    else:
        retry = failed_paths(conn, table_name, paths)
    return replace(found, files=[f for f in found.files if f.path in retry])


def _discovery_failures(found: DiscoveredSource) -> list[_Failure]:
    return [(None, "discover", problem) for problem in found.problems]


def _unprepared(
    found: DiscoveredSource, error: PgIngestError, warnings: list[str]
) -> PreparedSource:
    """The source's table cannot be had: every file fails, each with its own reason if known."""
    problems = error.problems if isinstance(error, _UnsampleableError) else {}
    failed = _discovery_failures(found) + [
        (file, "plan", problems.get(file.path, error)) for file in found.files
    ]
    return PreparedSource(found.source, None, failed=failed, warnings=tuple(warnings))


def _missing_table(source: Source, index: int) -> LoadError:
    return LoadError(
        f"table {source.table_name} does not exist",
        hint=f'create it, or set "create": true on source {source.name!r} (sources[{index}])',
        table=str(source.table_name),
    )


def _existing_table(conn: psycopg.Connection[Any], source: Source, index: int) -> Table | None:
    """The table as it is; None if the run would create it; LoadError if it would not."""
    table = read_table(conn, source.table_name)
    if table is None and not source.create:
        raise _missing_table(source, index)
    return table


def _ensure_table(
    conn: psycopg.Connection[Any], found: DiscoveredSource, index: int, warnings: list[str]
) -> tuple[Table, bool]:
    """The table, with the files' new columns added if the source evolves; and if it was created."""
    source = found.source
    table = _existing_table(conn, source, index)
    if table is None:
        return _create_from_samples(conn, found, index, warnings), True
    if source.evolve == "add_columns":
        table = _evolve(conn, table, found, index, warnings)
    if source.create and source.rescued_column and table.column(source.rescued_column) is None:
        rescued = [InferredColumn(source.rescued_column, "jsonb")]
        add_columns(conn, table.name, rescued, overrides={}, source_index=index)
        table = read_table(conn, table.name) or table
    return table, False


def _create_from_samples(
    conn: psycopg.Connection[Any], found: DiscoveredSource, index: int, warnings: list[str]
) -> Table:
    """Create the source's table with the column types its first readable files show."""
    source = found.source
    problems: dict[str, PgIngestError] = {}
    samples = sample_files(found.files, source, problems)
    if not samples:
        raise _UnsampleableError(str(source.table_name), problems)
    columns = infer_with_config(samples, source, index, warnings=warnings)
    if source.file_column and source.file_column not in {c.name for c in columns}:
        columns.append(InferredColumn(source.file_column, "text"))
    columns = [c for c in columns if c.name != source.rescued_column]
    if source.rescued_column:  # a file field of that name is rescued, not a column
        columns.append(InferredColumn(source.rescued_column, "jsonb"))
    key = source.key if source.mode == "upsert" else None
    create_table(
        conn,
        source.table_name,
        columns,
        overrides=source.columns,
        source_index=index,
        primary_key=key,
    )
    logger.info(
        "created table %s with %d column%s",
        source.table_name,
        len(columns),
        "" if len(columns) == 1 else "s",
    )
    created = read_table(conn, source.table_name)
    assert created is not None
    return created


def _decide_files(
    conn: psycopg.Connection[Any],
    prepared: PreparedSource,
    files: Sequence[SourceFile],
    entries: dict[str, list[LoadedEntry]],
    splitting: _Splitting,
) -> PreparedSource:
    """Each file's decision against the manifest: a unit to load, skipped, or failed."""
    source, table = prepared.source, prepared.table
    decisions, problems = decide(
        in_apply_order(files, source), entries, always_hash=source.fingerprint == "content"
    )
    failed = prepared.failed + [(None, "fingerprint", problem) for problem in problems]
    if source.mode == "replace" and table is not None:
        return _prepare_replace(conn, replace(prepared, failed=failed), decisions)
    units: list[Unit] = []
    skipped: list[Decision] = []
    for decision in decisions:
        if decision.action == "skip" or (
            decision.action == "changed" and source.change_policy == "skip"
        ):
            skipped.append(decision)
        elif decision.action == "changed" and source.change_policy != "reload":
            failed.append((decision.file, "manifest", _changed_error(decision, source)))
        elif table is not None:
            units.extend(_units_of(decision, source, table, splitting))
    return replace(prepared, units=units, skipped=skipped, failed=failed)


def _changed_error(decision: Decision, source: Source) -> LoadError:
    previous = decision.previous
    when = f" by run {previous.run_id}" if previous and previous.run_id else ""
    return LoadError(
        f"the file changed since it was loaded{when}",
        hint=f'set "on_change" on source {source.name!r}: "skip" to leave it, '
        '"reload" to replace its rows',
        path=decision.file.path,
        table=str(source.table_name),
    )


def _units_of(
    decision: Decision, source: Source, table: Table, splitting: _Splitting
) -> list[Unit]:
    """A changed file reloads whole; a new one may load as chunks."""
    if decision.action == "changed":
        return [Unit(decision.file, source, table, decision)]
    return [Unit(d.file, source, table, d) for d in _chunk_decisions(decision, source, splitting)]


def in_apply_order(files: Sequence[SourceFile], source: Source) -> list[SourceFile]:
    """The source's files in the order upsert and replace apply them (the last one wins).

    Sorted by path, or with ``order_by: modified`` by modification time, then
    path: the same order whatever the executor, the workers and the scheduling.
    """
    if source.order_by == "modified":
        return sorted(files, key=lambda f: (f.modified_ns, f.path, f.part))
    return sorted(files, key=lambda f: (f.path, f.part))


def _chunk_decisions(decision: Decision, source: Source, splitting: _Splitting) -> list[Decision]:
    """A large CSV file's decision as one per chunk (the chunks a crash left to load)."""
    file = decision.file
    chunk_bytes = splitting.chunk_bytes
    if (
        not can_split(file, source, chunk_bytes, splitting.max_rejects)
        and not decision.loaded_parts
    ):
        return [decision]
    try:
        header = open_reader(file, source).column_names()
    except (PgIngestError, OSError):
        return [decision]  # the unit reports why the file cannot be read
    if decision.loaded_parts:
        chunks = remaining_chunks(file, header, source, decision.loaded_parts, chunk_bytes)
    else:
        chunks = split_file(file, header, source, chunk_bytes)
    return [replace(decision, file=chunk) for chunk in chunks]


def _prepare_replace(
    conn: psycopg.Connection[Any], prepared: PreparedSource, decisions: list[Decision]
) -> PreparedSource:
    """A replace loads all files together, or — if none changed and none left — nothing."""
    table, failed = prepared.table, prepared.failed
    assert table is not None
    current = {d.file.path for d in decisions}
    unchanged = all(d.action == "skip" for d in decisions)
    if unchanged and loaded_paths(conn, str(table.name)) <= current and not failed:
        return replace(prepared, skipped=list(decisions))
    if failed:  # a replace needs every file: one that cannot be read keeps the old rows
        first = failed[0][2].describe()
        held_back: list[_Failure] = [
            (
                d.file,
                "plan",
                LoadError(
                    f"not loaded: replacing {table.name} needs every file of the source, and one "
                    f"failed ({first}); the table keeps its rows",
                    path=d.file.path,
                    table=str(table.name),
                ),
            )
            for d in decisions
        ]
        return replace(prepared, failed=failed + held_back)
    units = as_replace_units([Unit(d.file, prepared.source, table, d) for d in decisions])
    group = ReplaceGroup(prepared.source, table, units) if units else None
    return replace(prepared, group=group)
