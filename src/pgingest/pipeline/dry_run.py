"""What a run would do, without loading or changing anything (``pgingest plan``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgingest.config import Config, Source
from pgingest.database import DatabaseTarget, resolve_database
from pgingest.discover import FoldedPath, discover_files, file_error
from pgingest.errors import PgIngestError
from pgingest.load.catalog import read_table
from pgingest.load.connect import connect, translate_db_error
from pgingest.match import match_columns
from pgingest.parse import open_reader
from pgingest.pipeline.attempt import Unit
from pgingest.pipeline.prepare import infer_with_config, preview_source, sample_files

__all__ = ["FilePlan", "RunPlan", "SourcePlan", "plan_run"]


@dataclass(frozen=True)
class FilePlan:
    """One matched file and what a run would do with it."""

    path: str
    format: str
    compression: str | None
    size: int
    action: str  # load, skip (already loaded), changed, fail
    columns: list[str] = field(default_factory=list)
    problem: str | None = None
    note: str | None = None  # e.g. "partial (3 of 7 parts)": the parts left will load


@dataclass(frozen=True)
class SourcePlan:
    """A source: its table, the table's columns, and its files."""

    source: Source
    table: str
    table_exists: bool
    table_columns: list[tuple[str, str]]
    files: list[FilePlan]
    unmatched_patterns: list[str]
    problem: str | None = None
    folded: list[FoldedPath] = field(default_factory=list)  # paths of a file found twice


@dataclass(frozen=True)
class RunPlan:
    """Every source's plan, and the database consulted."""

    database: str
    sources: list[SourcePlan]
    base_dir: str = ""

    def display_path(self, path: str) -> str:
        """A file's path relative to the config's folder when it lies inside it."""
        if self.base_dir and path.startswith(self.base_dir.rstrip("/") + "/"):
            return path[len(self.base_dir.rstrip("/")) + 1 :]
        return path


def _has_manifest(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('pgingest.files') IS NOT NULL").fetchone()
    return bool(row and row[0])


def plan_run(config: Config, *, database_url: str | None = None) -> RunPlan:
    """Discover, read headers and the manifest; create nothing and load nothing."""
    discovered = discover_files(config)
    target: DatabaseTarget = resolve_database(config, database_url)
    plans: list[SourcePlan] = []
    with connect(target.url) as conn:
        try:
            has_manifest = _has_manifest(conn)
            for index, found in enumerate(discovered):
                plans.append(_plan_source(conn, found, index, has_manifest, config))
        except psycopg.Error as exc:
            raise translate_db_error(exc, url=target.url) from exc
    return RunPlan(database=str(target), sources=plans, base_dir=str(config.base_dir))


def _plan_source(
    conn: psycopg.Connection[Any], found: Any, index: int, has_manifest: bool, config: Config
) -> SourcePlan:
    source: Source = found.source
    table = read_table(conn, source.table_name)
    if table is not None:
        columns = [(c.name, c.type.name) for c in table.columns]
    elif source.create:
        inferred = infer_with_config(sample_files(found.files, source), source, index)
        columns = [(c.name, source.columns.get(c.name, c.sql_type)) for c in inferred]
    else:
        columns = []
    prepared = preview_source(
        conn,
        found,
        index,
        has_manifest=has_manifest,
        chunk_bytes=config.settings.chunk_bytes,
        max_rejects=config.settings.max_rejects,
    )
    actions: dict[str, tuple[str, str | None]] = {}
    for decision in prepared.skipped:
        actions[decision.file.path] = ("skip", "already loaded, unchanged")
    for file, _stage, error in prepared.failed:
        if file is not None:
            actions[file.path] = ("fail", error.describe())
    notes = _partial_notes(prepared.units)
    files: list[FilePlan] = []
    for file in found.files:
        action, problem = actions.get(file.path, ("load", None))
        names: list[str] = []
        try:
            names = open_reader(file, source).column_names()
            if table is not None and action == "load":
                match_columns(names, table, source, file)
        except PgIngestError as exc:
            action, problem = "fail", exc.describe()
        except OSError as exc:
            action, problem = "fail", file_error(exc, file.path).describe()
        files.append(
            FilePlan(
                file.path,
                file.format,
                file.compression,
                file.size,
                action,
                names,
                problem,
                notes.get(file.path) if action == "load" else None,
            )
        )
    source_problem = None
    if table is None and not source.create:
        source_problem = f'table {source.table_name} does not exist (set "create": true)'
    return SourcePlan(
        source=source,
        table=str(source.table_name),
        table_exists=table is not None,
        table_columns=columns,
        files=files,
        unmatched_patterns=list(found.unmatched_patterns),
        problem=source_problem,
        folded=list(found.folded),
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
