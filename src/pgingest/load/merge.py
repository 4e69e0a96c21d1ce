"""Staging tables and the merge of a file's rows into its target: upsert, and sql rules.

The staging table is a temporary table created inside the unit's transaction
with ``ON COMMIT DROP``: it vanishes when the unit commits, when it rolls back,
and when the session dies, so no crash can leave one behind. It holds the
file's columns with the target's exact types, plus the record number of each
row (its order in the file).

Upsert inserts ``DISTINCT ON (key)`` the last row of each key in file order,
``ON CONFLICT (key) DO UPDATE`` the file's other columns. Rows the server
refuses during the merge (NOT NULL, CHECK, FOREIGN KEY) are isolated by
bisection over record ranges under savepoints, like COPY's refusals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pgingest.errors import LoadError
from pgingest.load.connect import translate_db_error
from pgingest.load.isolate import RowRefusal, is_row_error, refusal_of
from pgingest.naming import TableName
from pgingest.types import PgType, TargetColumn

__all__ = [
    "RECORD_COLUMN",
    "MergeCounts",
    "Stage",
    "create_stage",
    "require_unique_key",
    "stage_columns",
]

# The staging column holding each row's record number in its file.
RECORD_COLUMN = "_pgingest_record"
STAGE_NAME = "pgingest_stage"

_RECORD_TYPE = PgType(oid=20, name="bigint", receive="int8recv")


@dataclass
class MergeCounts:
    """What a merge did."""

    inserted: int = 0
    updated: int = 0
    duplicates: int = 0  # rows whose key a later row of the same file replaced
    skipped: int = 0  # rows a BEFORE trigger on the target turned away (returned NULL)
    refused: list[RowRefusal] = field(default_factory=list)  # row = record number

    def add(self, staged: int, chosen: int, inserted: int, updated: int, equal: int) -> None:
        """Count one merged range (the figures of Stage._tally_statement).

        A row folded into an equal one already there (every column is key, so
        DO NOTHING) counts as a duplicate, as does a row a later one replaced.
        """
        self.inserted += inserted
        self.updated += updated
        self.duplicates += staged - chosen + equal
        self.skipped += chosen - inserted - updated - equal


def stage_columns(columns: Sequence[TargetColumn]) -> list[TargetColumn]:
    """The staging table's columns: the file's, then its record number."""
    return [*columns, TargetColumn(RECORD_COLUMN, _RECORD_TYPE)]


@dataclass(frozen=True)
class Stage:
    """A staging table for one unit, on one connection, inside its transaction."""

    conn: psycopg.Connection[Any]
    target: TableName
    columns: tuple[str, ...]  # the file's columns, as named in the target
    name: TableName = field(default_factory=lambda: TableName("pg_temp", STAGE_NAME))

    def _columns_sql(self) -> sql.Composed:
        return sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)

    def check_sql_rule(self, expression: str) -> list[int]:
        """Record numbers of staged rows for which the boolean ``expression`` is false.

        A rule is a read-only expression, however it is written: it runs as one
        statement of the extended protocol (a ``;`` cannot start a second one),
        inside a scalar subquery (no data-modifying WITH can stand there), under
        a savepoint that is read-only and always rolled back (a function it
        calls can change nothing). A NULL result passes, as in a CHECK.
        """
        query = sql.SQL(
            "SELECT {record} FROM {stage} WHERE NOT coalesce((SELECT (\n{expression}\n)), true) "
            "ORDER BY 1"
        ).format(
            record=sql.Identifier(RECORD_COLUMN),
            stage=self.name.identifier,
            expression=sql.SQL(expression),  # the config is trusted code (README)
        )
        with self.conn.transaction(force_rollback=True):
            self.conn.execute("SET LOCAL transaction_read_only = on")
            # A binary cursor sends the query with the extended protocol even without parameters.
            with self.conn.cursor(binary=True) as cursor:
                broken = cursor.execute(query).fetchall()
        return [int(row[0]) for row in broken]

    def null_keys(self, key: Sequence[str]) -> list[int]:
        """Record numbers of staged rows with a NULL in a key column (upsert cannot match them)."""
        nulls = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in key)
        query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY 1").format(
            sql.Identifier(RECORD_COLUMN), self.name.identifier, nulls
        )
        return [int(row[0]) for row in self.conn.execute(query).fetchall()]

    def discard(self, records: Sequence[int]) -> None:
        """Remove rows (by record number) from the stage."""
        if records:
            self.conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                    self.name.identifier, sql.Identifier(RECORD_COLUMN)
                ),
                (list(records),),
            )

    def count(self) -> int:
        """Rows in the stage."""
        row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.name.identifier))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def _merge_statement(self, key: Sequence[str] | None) -> sql.Composed:
        columns = self._columns_sql()
        record = sql.Identifier(RECORD_COLUMN)
        where = sql.SQL("WHERE {} >= %(low)s AND {} < %(high)s").format(record, record)
        if not key:
            tally = self._tally_statement(where, None)
            return sql.SQL(
                "WITH chosen AS (SELECT {columns} FROM {stage} {where} ORDER BY {record}), "
                "written AS (INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage} "
                "{where} ORDER BY {record} RETURNING true AS inserted) {tally}"
            ).format(
                target=self.target.identifier,
                columns=columns,
                stage=self.name.identifier,
                where=where,
                record=record,
                tally=tally,
            )
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in key)
        others = [c for c in self.columns if c not in key]
        action = (
            sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in others
                )
            )
            if others
            else sql.SQL("DO NOTHING")
        )
        tally = self._tally_statement(where, None if others else key)
        # The last row of each key in file order wins; (xmax = 0) tells inserted from updated.
        return sql.SQL(
            "WITH chosen AS (SELECT DISTINCT ON ({keys}) {columns} FROM {stage} {where} "
            "ORDER BY {keys}, {record} DESC), "
            "written AS (INSERT INTO {target} ({columns}) SELECT {columns} FROM chosen "
            "ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS inserted) {tally}"
        ).format(
            target=self.target.identifier,
            columns=columns,
            keys=keys,
            stage=self.name.identifier,
            where=where,
            record=record,
            action=action,
            tally=tally,
        )

    def _tally_statement(
        self, where: sql.Composable, do_nothing_key: Sequence[str] | None
    ) -> sql.Composed:
        """One row back: staged rows in the range, rows chosen, inserted, updated, kept as equal.

        A chosen row that comes back neither inserted nor updated, nor met an equal
        key under DO NOTHING (counted on the snapshot before the insert), was turned
        away by a BEFORE trigger on the target.
        """
        equal: sql.Composable = sql.SQL("0")
        if do_nothing_key:
            pairs = sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(
                    sql.Identifier("existing", k), sql.Identifier("chosen", k)
                )
                for k in do_nothing_key
            )
            equal = sql.SQL(
                "(SELECT count(*) FROM chosen WHERE EXISTS (SELECT 1 FROM {} AS existing WHERE {}))"
            ).format(self.target.identifier, pairs)
        return sql.SQL(
            "SELECT (SELECT count(*) FROM {stage} {where}), (SELECT count(*) FROM chosen), "
            "count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted), {equal} "
            "FROM written"
        ).format(stage=self.name.identifier, where=where, equal=equal)

    def merge(self, *, key: Sequence[str] | None, limit: int | None = None) -> MergeCounts:
        """Move the staged rows into the target; refused rows are isolated and left out."""
        counts = MergeCounts()
        bounds = self.conn.execute(
            sql.SQL("SELECT min({0}), max({0}) + 1, count(*) FROM {1}").format(
                sql.Identifier(RECORD_COLUMN), self.name.identifier
            )
        ).fetchone()
        if not bounds or bounds[2] == 0:
            return counts
        low, high = int(bounds[0]), int(bounds[1])
        statement = self._merge_statement(key)
        pending = [(low, high)]
        while pending:
            if limit is not None and len(counts.refused) > limit:
                break
            start, stop = pending.pop()
            try:
                with self.conn.transaction():
                    tally = self.conn.execute(statement, {"low": start, "high": stop}).fetchone()
                assert tally is not None
                counts.add(*(int(n) for n in tally))
            except psycopg.Error as exc:
                if not is_row_error(exc):
                    raise
                if stop - start <= 1:
                    counts.refused.append(refusal_of(exc, start))
                else:
                    middle = (start + stop) // 2
                    pending.append((middle, stop))
                    pending.append((start, middle))
        return counts


def create_stage(conn: psycopg.Connection[Any], target: TableName, columns: Sequence[str]) -> Stage:
    """A temporary staging table with the target's types for ``columns`` (dropped at commit)."""
    selected = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    stage = Stage(conn, target, tuple(columns))
    try:
        # A replace loads several files in one transaction: the last one's stage
        # is still there (ON COMMIT DROP acts at the end of the transaction).
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage.name.identifier))
        conn.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
            ).format(sql.Identifier(STAGE_NAME), selected, target.identifier)
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} bigint NOT NULL").format(
                stage.name.identifier, sql.Identifier(RECORD_COLUMN)
            )
        )
    except psycopg.Error as exc:
        # Classified like any database error: a lost connection is retried.
        error = translate_db_error(exc, table=str(target))
        error.message = f"cannot create a staging table for {target}: {error.message}"
        raise error from exc
    return stage


def require_unique_key(
    conn: psycopg.Connection[Any], target: TableName, key: Sequence[str]
) -> None:
    """Upsert needs a unique index or constraint on exactly the key columns."""
    row = conn.execute(
        """
        SELECT 1 FROM pg_catalog.pg_index i
        JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indpred IS NULL
          AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
               FROM pg_catalog.pg_attribute a
               WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
              = (SELECT array_agg(k ORDER BY k) FROM unnest(%s::text[]) k)
        """,
        (target.schema, target.name, list(key)),
    ).fetchone()
    if row is None:
        columns = ", ".join(key)
        raise LoadError(
            f"upsert needs a unique index on ({columns}) in table {target}",
            hint=f"create it: CREATE UNIQUE INDEX ON {target} ({columns})",
            table=str(target),
        )
