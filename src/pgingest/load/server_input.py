"""Values read by the server's own input function: PostgreSQL is the oracle for odd texts.

pgingest converts the canonical spellings of values itself (convert/); every
other text goes here. A PL/pgSQL helper in ``pg_temp`` assigns each text to a
variable of the column's type — the same input function and type modifier
COPY applies — inside its own EXCEPTION block, so one bad value costs its own
subtransaction, not the batch. Results come back in binary, that is in each
type's send format, which is exactly what binary COPY's receive function reads
back: the value stored is by construction the one COPY would store. A value
the server refuses comes back with its SQLSTATE and message.

It runs on the unit's own connection and transaction, so the session's
TimeZone, DateStyle and IntervalStyle are the ones COPY sees. Cost: one round
trip per call and about a subtransaction per value (see bench/README.md).
PostgreSQL 16's pg_input_is_valid would spare the subtransaction but is not
on 15.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from pgingest.convert.server import ServerValue
from pgingest.types import PgType

__all__ = ["ServerInput", "ServerValue"]

_HELPER = """
CREATE OR REPLACE FUNCTION pg_temp.{name}(inputs text[])
RETURNS TABLE (out_value {type}, out_sqlstate text, out_message text)
LANGUAGE plpgsql AS $pgingest$
DECLARE
    item {type};
    detail text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(inputs, 1), 0) LOOP
        BEGIN
            item := inputs[i];
            out_value := item;
            out_sqlstate := NULL;
            out_message := NULL;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
            out_value := NULL;
            out_sqlstate := SQLSTATE;
            out_message := SQLERRM || coalesce(' (' || nullif(detail, '') || ')', '');
        END;
        RETURN NEXT;
    END LOOP;
END
$pgingest$
"""


class ServerInput:
    """Reads texts with the server's input functions on ``conn`` (inside its transaction).

    ``before`` runs before each round trip: the fast path ends its COPY
    statement there, since a connection in COPY cannot run a query.
    """

    def __init__(
        self, conn: psycopg.Connection[Any], *, before: Callable[[], None] | None = None
    ) -> None:
        self._conn = conn
        self._before = before

    def read_values(self, pg_type: PgType, texts: Sequence[str]) -> list[ServerValue]:
        """Each text read as ``pg_type`` (type modifier included), in order."""
        if not texts:
            return []
        if self._before is not None:
            self._before()
        name = sql.Identifier(_helper_name(pg_type))
        # pg_type.name is format_type()'s output: the server's own quoted spelling.
        type_sql = sql.SQL(pg_type.name)
        create = sql.SQL(_HELPER).format(name=name, type=type_sql)
        query = sql.SQL("SELECT out_value, out_sqlstate, out_message FROM pg_temp.{}(%s)").format(
            name
        )
        with self._conn.cursor(binary=True) as cursor:
            cursor.execute(create)
            cursor.execute(query, (list(texts),))
            result = cursor.pgresult
            assert result is not None
            return [_row(result, row) for row in range(result.ntuples)]


def _row(result: Any, row: int) -> ServerValue:
    data = result.get_value(row, 0)
    sqlstate = result.get_value(row, 1)
    if sqlstate is None:
        return ServerValue(bytes(data) if data is not None else None)
    message = result.get_value(row, 2)
    return ServerValue(
        None, bytes(sqlstate).decode(), bytes(message).decode("utf-8", "replace") if message else ""
    )


def _helper_name(pg_type: PgType) -> str:
    """One helper per type and modifier: a helper's result type cannot be replaced."""
    return f"pgingest_read_{pg_type.oid}_{pg_type.typmod & 0xFFFFFFFF}"
