"""Time-zone rules after 2037, where Arrow's reading differs from PostgreSQL's.

Arrow reads a zone's rules from its TZif transitions alone, and tz data built
"slim" (as most systems ship it) lists none after 2037: Arrow then applies no
daylight saving time at all, so 2040-07-01 12:00 in New York came out an hour
off. PostgreSQL, like Python's zoneinfo, follows the zone's rule string for
every later year. Times from 2038 on are therefore converted here, value by
value, with zoneinfo and PostgreSQL's rule for gaps and overlaps; the
Gregorian calendar repeats every 400 years, so a year past Python's 9999 is
read in the year of the same cycle position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["instants_to_local", "local_to_instants"]

_MICROS = 1_000_000
_EPOCH = dt.datetime(1970, 1, 1)
# 2038-01-01: from here on Arrow's rules and PostgreSQL's can differ.
_FIRST_RULE_MICROS = (dt.datetime(2038, 1, 1) - _EPOCH) // dt.timedelta(microseconds=1)
_CYCLE_MICROS = 146_097 * 86_400 * _MICROS  # 400 Gregorian years


def _after_tables(micros: pa.Array) -> np.ndarray:
    """Rows at or after 2038 (null rows are not)."""
    later = pc.greater_equal(micros, _FIRST_RULE_MICROS)
    return np.asarray(pc.fill_null(later, False).to_numpy(zero_copy_only=False), dtype=bool)


def _in_python_range(micros: int) -> tuple[int, int]:
    """``micros`` moved back by whole 400-year cycles into 2038-2437, and the shift."""
    cycles = (micros - _FIRST_RULE_MICROS) // _CYCLE_MICROS
    shift = cycles * _CYCLE_MICROS
    return micros - shift, shift


def _local_offset(local_micros: int, zone: ZoneInfo) -> int:
    """The UTC offset PostgreSQL gives a wall-clock time (DetermineTimeZoneOffset):
    in a spring-forward gap the offset before it, when it occurs twice the later one."""
    moment = (_EPOCH + dt.timedelta(microseconds=local_micros)).replace(tzinfo=zone)
    before = moment.utcoffset()
    after = moment.replace(fold=1).utcoffset()
    assert before is not None
    assert after is not None
    if before != after:
        round_trip = moment.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
        is_gap = round_trip != moment.replace(tzinfo=None)
        chosen = before if is_gap else after
    else:
        chosen = before
    return chosen // dt.timedelta(microseconds=1)


def _by_rule(
    moments: pa.Array, results: pa.Array, timezone: str, read: Callable[[int, ZoneInfo], int]
) -> pa.Array:
    """``results`` with the value of every row whose moment is from 2038 on replaced by
    ``read(moment, zone)``, the moment first moved back into Python's years by whole
    400-year cycles (and the result forward again)."""
    rows = np.flatnonzero(_after_tables(moments))
    if not len(rows):
        return results
    zone = ZoneInfo(timezone)
    values = pc.fill_null(results, 0).to_numpy().copy()
    for row in rows:
        moved, shift = _in_python_range(int(moments[row].as_py()))
        values[row] = read(moved, zone) + shift
    return pa.array(values, pa.int64(), mask=pc.is_null(results).to_numpy(zero_copy_only=False))


def local_to_instants(local: pa.Array, instants: pa.Array, timezone: str) -> pa.Array:
    """``instants`` (int64 µs, UTC) with every local time from 2038 on read by the zone's rule."""
    return _by_rule(
        local, instants, timezone, lambda moved, zone: moved - _local_offset(moved, zone)
    )


def instants_to_local(instants: pa.Array, local: pa.Array, timezone: str) -> pa.Array:
    """``local`` (int64 µs wall-clock times) with every instant from 2038 on read by the rule."""
    return _by_rule(
        instants, local, timezone, lambda moved, zone: moved + _instant_offset(moved, zone)
    )


def _instant_offset(instant_micros: int, zone: ZoneInfo) -> int:
    """The zone's UTC offset at an instant, in µs."""
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=instant_micros)
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None
    return offset // dt.timedelta(microseconds=1)
