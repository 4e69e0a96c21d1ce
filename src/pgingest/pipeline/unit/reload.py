"""``on_change: reload``: a changed file's earlier rows go, in the transaction loading it again."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from pgingest.errors import LoadError
from pgingest.match import UnitPlan
from pgingest.pipeline.unit.model import Unit
from pgingest.store.manifest import loaded_rows, lock_for_replace, mark_replaced

__all__ = ["forget_earlier_load"]


def forget_earlier_load(conn: psycopg.Connection[Any], unit: Unit, plan: UnitPlan) -> None:
    """Delete the file's earlier rows (by the lineage column) and mark its manifest rows replaced.

    In append mode the rows deleted by the lineage column must be exactly the
    rows the manifest says the file's loads inserted; anything else (rows
    loaded before the column existed, rows edited since) means the file's
    rows cannot be told apart, and the reload is refused — rolled back whole.
    """
    table = str(unit.table.name)
    lock_for_replace(conn, table_name=table, path=unit.file.path)
    if plan.lineage is not None:
        expected = loaded_rows(conn, table_name=table, path=unit.file.path)
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                unit.table.name.identifier, sql.Identifier(plan.lineage.name)
            ),
            (unit.file.path,),
        ).rowcount
        if unit.source.mode == "append" and deleted != expected:
            raise _unmatched_lineage(conn, unit, plan.lineage.name, expected, deleted)
    mark_replaced(conn, table_name=table, path=unit.file.path)


def _unmatched_lineage(
    conn: psycopg.Connection[Any], unit: Unit, column: str, expected: int, deleted: int
) -> LoadError:
    """The refusal of a reload whose earlier rows the lineage column does not single out."""
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
            unit.table.name.identifier, sql.Identifier(column)
        )
    ).fetchone()
    unnamed = int(row[0]) if row else 0
    why = (
        f"; {unnamed:,} rows of the table have no file in {column!r} (loaded before the "
        "column existed?)"
        if unnamed
        else ""
    )
    return LoadError(
        f"cannot reload: the manifest says the file's earlier loads inserted {expected:,} rows, "
        f"but {deleted:,} rows have it in {column!r}{why}; nothing was changed",
        hint=f"fill {column!r} with the file's path for its earlier rows (or delete them), "
        'then run again; or set "on_change": "skip"',
        path=unit.file.path,
        table=str(unit.table.name),
    )
