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
trip per call. All texts are first cast in one statement (a type's explicit
cast from text runs the same input function); only if the server refuses one
does the helper run, at about a subtransaction per value. PostgreSQL 16's
pg_input_is_valid would spare those but is not on 15.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from pgingest.convert.binary import split_array_binary
from pgingest.convert.server import ServerValue
from pgingest.load.isolate import is_row_error
from pgingest.types import Kind, PgType, kind_of

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
        if _casts_as_input(pg_type):
            values = self._read_all(pg_type, texts)
            if values is not None:
                return values
        name = sql.Identifier(_helper_name(pg_type))
        # pg_type.name is format_type()'s output: the server's own quoted spelling.
        type_sql = sql.SQL(pg_type.name)
        create = sql.SQL(_HELPER).format(name=name, type=type_sql)
        query = sql.SQL("SELECT out_value, out_sqlstate, out_message FROM pg_temp.{}(%b)").format(
            name
        )
        with self._conn.cursor(binary=True) as cursor:
            cursor.execute(create)
            cursor.execute(query, (list(texts),))
            result = cursor.pgresult
            assert result is not None
            return [_row(result, row) for row in range(result.ntuples)]

    def _read_all(self, pg_type: PgType, texts: Sequence[str]) -> list[ServerValue] | None:
        """Every text cast in one statement; None if the server refuses one of them.

        The results come back as one array (array_send's format, split here):
        one value to fetch instead of one per text.
        """
        if pg_type.element is not None:  # array_agg of arrays needs equal dimensions
            return None
        query = sql.SQL(
            "SELECT array_agg(x::{} ORDER BY n) FROM unnest(%b::text[]) WITH ORDINALITY AS t(x, n)"
        ).format(sql.SQL(pg_type.name))
        try:
            with self._conn.transaction(), self._conn.cursor(binary=True) as cursor:
                cursor.execute(query, (list(texts),))
                result = cursor.pgresult
                assert result is not None
                data = result.get_value(0, 0)
        except psycopg.Error as exc:
            if not is_row_error(exc):
                raise
            return None
        assert data is not None
        return [ServerValue(v) for v in split_array_binary(bytes(data))]


def _casts_as_input(pg_type: PgType) -> bool:
    """Whether ``text::type`` reads as COPY does. Not for arrays of varchar(n) or char(n):
    an explicit cast truncates their elements where COPY refuses a value too long."""
    element = pg_type.element
    return element is None or element.typmod < 0 or kind_of(element) is not Kind.TEXT


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
