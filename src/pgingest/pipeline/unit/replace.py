"""``mode: replace``: a table's contents replaced by all of a source's files, atomically.

One transaction deletes the old rows and loads every file through the same
loop as any file (load.py: fast then careful, each attempt under a savepoint,
rejects as usual), then commits. Readers see the old rows until the commit and
the new ones after: never a mix, never an empty table (DELETE, unlike
TRUNCATE, is MVCC-safe). Indexes, constraints, grants and dependent views are
untouched because the table itself is. If any file fails, the whole replace
rolls back and the table keeps its old rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql

from pgingest.config import Source
from pgingest.errors import LoadError
from pgingest.load.catalog import Table
from pgingest.load.connect import translate_db_error
from pgingest.pipeline.unit.load import FileFailedError, Landed, load_file, settle
from pgingest.pipeline.unit.model import LoadedElsewhereError, Unit, UnitContext
from pgingest.pipeline.unit.result import UnitFailure, UnitResult
from pgingest.store.manifest import lock_for_replace, replace_table_manifest

__all__ = ["ReplaceGroup", "as_replace_units", "load_replace"]


@dataclass(frozen=True)
class ReplaceGroup:
    """All files of a replace-mode source: they land together or not at all."""

    source: Source
    table: Table
    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Bytes of all its files (for scheduling the largest work first)."""
        return sum(u.file.size for u in self.units)


def load_replace(group: ReplaceGroup, ctx: UnitContext) -> list[UnitResult]:
    """Replace the table's rows with the group's files; one result per file."""
    table = group.table.name
    return settle(
        group.units,
        ctx,
        lambda: ctx.retrier.call(lambda: _replace_once(group, ctx), what=f"replacing {table}"),
        what=f"the replace of {table}",
    )


def _replace_once(group: ReplaceGroup, ctx: UnitContext) -> list[Landed]:
    with ctx.pool.connection() as conn:
        try:
            with conn.transaction():
                lock_for_replace(conn, table_name=str(group.table.name))
                conn.execute(sql.SQL("DELETE FROM {}").format(group.table.name.identifier))
                replace_table_manifest(conn, table_name=str(group.table.name))
                return [_load_into(conn, unit, ctx) for unit in group.units]
        except psycopg.Error as exc:
            raise translate_db_error(exc, table=str(group.table.name)) from exc


def _load_into(conn: psycopg.Connection[Any], unit: Unit, ctx: UnitContext) -> Landed:
    try:
        return load_file(unit, ctx, conn=conn)
    except LoadedElsewhereError as exc:  # a file of a replace is never someone else's
        error = LoadError(f"cannot replace with this file: {exc}", path=unit.file.path)
        raise FileFailedError(unit, UnitFailure("copy", error)) from exc


def as_replace_units(units: list[Unit]) -> tuple[Unit, ...]:
    """Units of a replace: each file loads fresh (the table is emptied first)."""
    return tuple(replace(u, decision=replace(u.decision, action="load")) for u in units)
