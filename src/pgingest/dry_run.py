"""The plan of a run (``pgingest plan``), made without loading or changing anything.

A read model for the CLI: it asks the same preparation a run does, with nothing created.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pgingest.config import Config, Source
from pgingest.database import DatabaseTarget, resolve_database
from pgingest.discover import (
    DiscoveredSource,
    SourceFile,
    discover_files,
    file_error,
)
from pgingest.errors import PgIngestError
from pgingest.load.catalog import Table, read_table
from pgingest.load.connect import connect, translate_db_error
from pgingest.match import match_columns
from pgingest.parse import open_reader
from pgingest.pipeline.prepare import (
    PreparedSource,
    infer_with_config,
    preview_source,
    sample_files,
)
from pgingest.pipeline.unit import Unit
from pgingest.plan import FilePlan, RunPlan, SourcePlan
from pgingest.store.schema import has_tables

__all__ = ["plan_run"]


def plan_run(config: Config, *, database_url: str | None = None) -> RunPlan:
    """Discover, read headers and the manifest; create nothing and load nothing."""
    discovered = discover_files(config)
    target: DatabaseTarget = resolve_database(config, database_url)
    plans: list[SourcePlan] = []
    with connect(target.url) as conn:
        try:
            has_manifest = has_tables(conn, "files")
            for index, found in enumerate(discovered):
                plans.append(_plan_source(conn, found, index, has_manifest, config))
        except psycopg.Error as exc:
            raise translate_db_error(exc, url=target.url) from exc
    return RunPlan(database=str(target), sources=plans, base_dir=str(config.base_dir))


def _plan_source(
    conn: psycopg.Connection[Any],
    found: DiscoveredSource,
    index: int,
    has_manifest: bool,
    config: Config,
) -> SourcePlan:
    source: Source = found.source
    table = read_table(conn, source.table_name)
    prepared = preview_source(
        conn,
        found,
        index,
        has_manifest=has_manifest,
        chunk_bytes=config.settings.chunk_bytes,
        max_rejects=config.settings.max_rejects,
    )
    verdicts = _verdicts(prepared)
    source_problem = None
    if table is None and not source.create:
        source_problem = f'table {source.table_name} does not exist (set "create": true)'
    return SourcePlan(
        source=source,
        table=str(source.table_name),
        table_exists=table is not None,
        table_columns=_table_columns(table, found, index),
        files=[_plan_file(file, source, table, verdicts) for file in found.files],
        unmatched_patterns=list(found.unmatched_patterns),
        problem=source_problem,
        folded=list(found.folded),
    )


def _table_columns(
    table: Table | None, found: DiscoveredSource, index: int
) -> list[tuple[str, str]]:
    """The table's columns and types: as they are, or as a run would create them."""
    source = found.source
    if table is not None:
        return [(c.name, c.type.name) for c in table.columns]
    if source.create:
        inferred = infer_with_config(sample_files(found.files, source), source, index)
        return [(c.name, source.columns.get(c.name, c.sql_type)) for c in inferred]
    return []


def _verdicts(prepared: PreparedSource) -> dict[str, tuple[str, str | None, str | None]]:
    """Per path, what the manifest decided: skip or fail (and why), or load and a note."""
    verdicts: dict[str, tuple[str, str | None, str | None]] = {
        path: ("load", None, note) for path, note in _partial_notes(prepared.units).items()
    }
    for decision in prepared.skipped:
        verdicts[decision.file.path] = ("skip", "already loaded, unchanged", None)
    for failed, _stage, error in prepared.failed:
        if failed is not None:
            verdicts[failed.path] = ("fail", error.describe(), None)
    return verdicts


def _plan_file(
    file: SourceFile,
    source: Source,
    table: Table | None,
    verdicts: dict[str, tuple[str, str | None, str | None]],
) -> FilePlan:
    """What a run would do with one file: load, skip, or fail (and why), and its columns."""
    action, problem, note = verdicts.get(file.path, ("load", None, None))
    names: list[str] = []
    try:
        names = open_reader(file, source).column_names()
        if table is not None and action == "load":
            match_columns(names, table, source, file)
    except PgIngestError as exc:
        action, problem, note = "fail", exc.describe(), None
    except OSError as exc:
        action, problem, note = "fail", file_error(exc, file.path).describe(), None
    return FilePlan(
        file.path, file.format, file.compression, file.size, action, names, problem, note
    )


def _partial_notes(units: list[Unit]) -> dict[str, str]:
    """Files a killed run left half loaded: ``partial (k of n parts)``, as status says."""
    notes: dict[str, str] = {}
    for unit in units:
        done = unit.decision.loaded_parts
        if done and unit.file.path not in notes:
            left = sum(1 for u in units if u.file.path == unit.file.path)
            notes[unit.file.path] = (
                f"partial ({len(done)} of {len(done) + left} parts); loads the other {left}"
            )
    return notes
