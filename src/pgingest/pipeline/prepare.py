"""Before loading: each source's target table (read, or created from a sample) and its units."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from pgingest.config import Source
from pgingest.discover import DiscoveredSource, SourceFile
from pgingest.errors import ConfigError, LoadError, PgIngestError
from pgingest.infer import (
    SAMPLE_FILES,
    SAMPLE_ROWS,
    InferredColumn,
    SampleColumn,
    infer_columns,
)
from pgingest.load.catalog import Table, read_table
from pgingest.load.create import create_table
from pgingest.manifest import Decision, decide, failed_paths, loaded_entries
from pgingest.parse import open_reader
from pgingest.pipeline.unit import Unit

__all__ = ["PreparedSource", "prepare_source", "sample_files"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedSource:
    """A source ready to load: its table, units to run, and what is skipped or failed."""

    source: Source
    table: Table | None
    units: list[Unit] = field(default_factory=list)
    skipped: list[Decision] = field(default_factory=list)
    failed: list[tuple[SourceFile | None, str, PgIngestError]] = field(default_factory=list)
    created: bool = False


def sample_files(
    files: Sequence[SourceFile], source: Source, problems: dict[str, PgIngestError] | None = None
) -> list[list[SampleColumn]]:
    """Samples of the first files that can be read (a file that cannot is left to fail later).

    Files that cannot be read are noted in ``problems`` (path → error) when given.
    """
    samples: list[list[SampleColumn]] = []
    for file in files:
        if len(samples) >= SAMPLE_FILES:
            break
        try:
            samples.append(open_reader(file, source).sample(SAMPLE_ROWS))
        except PgIngestError as exc:
            logger.info("not sampling %s for create: %s", file.path, exc.describe())
            if problems is not None:
                problems[file.path] = exc.with_context(path=file.path)
    return samples


class _UnsampleableError(LoadError):
    """No file of a source could be read, so its table cannot be created from them."""

    def __init__(self, table: str, problems: dict[str, PgIngestError]) -> None:
        super().__init__(
            f"cannot create table {table}: none of its files could be read",
            hint="fix or remove the files, or create the table yourself",
            table=table,
        )
        self.problems = problems


def _table(
    conn: psycopg.Connection[Any], found: DiscoveredSource, index: int, *, allow_create: bool
) -> tuple[Table | None, bool]:
    source = found.source
    table = read_table(conn, source.table_name)
    if table is not None:
        return table, False
    if not source.create:
        raise LoadError(
            f"table {source.table_name} does not exist",
            hint=f'create it, or set "create": true on source {source.name!r} (sources[{index}])',
            table=str(source.table_name),
        )
    if not allow_create:
        return None, False
    problems: dict[str, PgIngestError] = {}
    samples = sample_files(found.files, source, problems)
    if not samples:
        raise _UnsampleableError(str(source.table_name), problems)
    columns = infer_columns(samples)
    if source.file_column and source.file_column not in {c.name for c in columns}:
        columns.append(InferredColumn(source.file_column, "text"))
    create_table(conn, source.table_name, columns, overrides=source.columns, source_index=index)
    logger.info("created table %s with %d columns", source.table_name, len(columns))
    created = read_table(conn, source.table_name)
    assert created is not None
    return created, True


def prepare_source(
    conn: psycopg.Connection[Any],
    found: DiscoveredSource,
    index: int,
    *,
    allow_create: bool = True,
    has_manifest: bool = True,
    retry_failed: bool = False,
) -> PreparedSource:
    """The table (created if allowed and asked for) and a decision for each file.

    With ``retry_failed``, only files whose last attempt failed are considered.
    """
    source = found.source
    if retry_failed and has_manifest:
        retry = failed_paths(conn, str(source.table_name), [f.path for f in found.files])
        found = replace(found, files=[f for f in found.files if f.path in retry])
    failed: list[tuple[SourceFile | None, str, PgIngestError]] = [
        (None, "discover", problem) for problem in found.problems
    ]
    try:
        table, created = _table(conn, found, index, allow_create=allow_create)
    except ConfigError:
        raise  # the whole run is misconfigured, not this source's files
    except _UnsampleableError as exc:  # each file fails with its own reason
        failed.extend((file, "plan", exc.problems.get(file.path, exc)) for file in found.files)
        return PreparedSource(source, None, failed=failed)
    except PgIngestError as exc:
        failed.extend((file, "plan", exc) for file in found.files)
        return PreparedSource(source, None, failed=failed)
    entries = (
        loaded_entries(conn, str(source.table_name), [f.path for f in found.files])
        if has_manifest
        else {}
    )
    decisions, problems = decide(found.files, entries)
    failed.extend((None, "fingerprint", problem) for problem in problems)
    units: list[Unit] = []
    skipped: list[Decision] = []
    for decision in decisions:
        if decision.action == "skip" or (
            decision.action == "changed" and source.change_policy == "skip"
        ):
            skipped.append(decision)
        elif decision.action == "changed" and source.change_policy == "reload":
            if table is not None:
                units.append(Unit(decision.file, source, table, decision))
        elif decision.action == "changed":
            previous = decision.previous
            when = f" by run {previous.run_id}" if previous and previous.run_id else ""
            failed.append(
                (
                    decision.file,
                    "manifest",
                    LoadError(
                        f"the file changed since it was loaded{when}",
                        hint=f'set "on_change" on source {source.name!r}: "skip" to leave it, '
                        '"reload" to replace its rows',
                        path=decision.file.path,
                        table=str(source.table_name),
                    ),
                )
            )
        elif table is not None:
            units.append(Unit(decision.file, source, table, decision))
    return PreparedSource(source, table, units, skipped, failed, created)
