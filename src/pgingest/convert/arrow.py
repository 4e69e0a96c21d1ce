"""Typed Arrow values (Parquet, JSON, typed CSV) → the column's exact Arrow type.

Temporal values load as PostgreSQL would read their text: nanoseconds round to
microseconds as its input functions round a longer fraction; a zone-less
timestamp into timestamptz takes the server's TimeZone with PostgreSQL's rule
for daylight-saving gaps and overlaps; a date or timestamp outside PostgreSQL's
range is a rejected value (never wrapped into another date, or infinity).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.binary import durations_to_intervals
from pgingest.convert.text import is_known_zone, parse_numeric
from pgingest.convert.zones import instants_to_local, local_to_instants
from pgingest.types import Kind, PgType, arrow_type_for

__all__ = ["cast_typed", "dump_json", "to_json_texts"]

# PostgreSQL's ranges (src/include/datatype/timestamp.h), in Arrow's units since 1970.
# Timestamps start at 4714-11-24 BC; their end (294277 AD) is past what int64
# microseconds since 1970 can hold. Dates run from Julian day 0 to 5874897-12-31.
_UNIX_EPOCH_IN_POSTGRES_MICROS = 946_684_800_000_000
MIN_TIMESTAMP_MICROS = -211_813_488_000_000_000 + _UNIX_EPOCH_IN_POSTGRES_MICROS
MIN_DATE_DAYS = -2_440_588
END_DATE_DAYS = 2_145_042_906  # exclusive
_NANOS_PER_SECOND = 1_000_000_000
_MICROS_PER_SECOND = 1_000_000


def dump_json(value: Any) -> str:
    """JSON text of a Python value; Decimals keep their exact digits, non-ASCII stays as is."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = (f"{dump_json(str(k))}: {dump_json(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dump_json(v) for v in value) + "]"
    if isinstance(value, bytes):
        return json.dumps(value.hex())
    if hasattr(value, "isoformat"):
        return json.dumps(value.isoformat())
    return json.dumps(str(value), ensure_ascii=False)


def _microsecond_type(data_type: pa.DataType) -> pa.DataType:
    """The same type with nanosecond timestamps and durations at microseconds (as PostgreSQL)."""
    if pa.types.is_timestamp(data_type) and data_type.unit == "ns":
        return pa.timestamp("us", tz=data_type.tz)
    if pa.types.is_duration(data_type) and data_type.unit == "ns":
        return pa.duration("us")
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_microsecond_type(f.type)) for f in data_type])
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return pa.list_(data_type.value_field.with_type(_microsecond_type(data_type.value_type)))
    if pa.types.is_map(data_type):
        return pa.map_(
            _microsecond_type(data_type.key_type), _microsecond_type(data_type.item_type)
        )
    return data_type


def to_json_texts(array: pa.Array) -> pa.Array:
    """Any Arrow values (structs, lists, maps, scalars) → their JSON text, row by row."""
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    coarse = _microsecond_type(array.type)
    try:
        # Python's datetime holds microseconds, not nanoseconds, and years 1 to 9999.
        values = _python_values(pc.cast(array, coarse, safe=False))
    except (OverflowError, ValueError):
        values = _python_values(pc.cast(array, _temporal_as_text_type(array.type)))
    return pa.array([None if v is None else dump_json(v) for v in values], pa.string())


def _python_values(array: pa.Array) -> list[Any]:
    if pa.types.is_map(array.type):
        return [None if v is None else dict(v) for v in array.to_pylist()]
    return list(array.to_pylist())


def _temporal_as_text_type(data_type: pa.DataType) -> pa.DataType:
    """The same type with every temporal value as Arrow's text of it (any year)."""
    if pa.types.is_temporal(data_type):
        return pa.string()
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_temporal_as_text_type(f.type)) for f in data_type])
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return pa.list_(
            data_type.value_field.with_type(_temporal_as_text_type(data_type.value_type))
        )
    if pa.types.is_map(data_type):
        return pa.map_(
            _temporal_as_text_type(data_type.key_type), _temporal_as_text_type(data_type.item_type)
        )
    return data_type


def _is_text(data_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    )


def cast_typed(array: pa.Array, pg_type: PgType, kind: Kind, *, timezone: str) -> pa.Array:
    """A typed Arrow array → the column's Arrow type, as PostgreSQL would convert the value."""
    source = array.type
    if kind in (Kind.JSON, Kind.JSONB):
        return array.cast(pa.string()) if _is_text(source) else to_json_texts(array)
    if kind is Kind.TEXT:
        if _is_uuid(source):
            return pa.array(
                [None if v is None else str(uuid.UUID(bytes=v)) for v in array.storage.to_pylist()],
                pa.string(),
            )
        if isinstance(source, pa.BaseExtensionType):
            return cast_typed(array.storage, pg_type, kind, timezone=timezone)
        if pa.types.is_nested(source):
            return to_json_texts(array)
        if pa.types.is_timestamp(source) or pa.types.is_date(source) or pa.types.is_time(source):
            return _temporal_text(array)
        return pc.cast(array, pa.string())
    if kind is Kind.NUMERIC:
        return _to_numeric(array, pg_type)
    if kind is Kind.UUID:
        return _to_uuid(array)
    if kind is Kind.INTERVAL:
        if pa.types.is_duration(source):
            return durations_to_intervals(array)
        raise TypeError(f"cannot convert {source} to interval")
    if kind is Kind.TIMESTAMPTZ:
        return _check_timestamp_range(_to_timestamptz(array, timezone))
    if kind is Kind.TIMESTAMP:
        return _check_timestamp_range(_to_timestamp(array, timezone))
    if kind is Kind.TIME and pa.types.is_time(source):
        return _round_to_micros(array) if source.unit == "ns" else pc.cast(array, pa.time64("us"))
    target = arrow_type_for(pg_type)
    if kind is Kind.BYTEA:
        return pc.cast(array, pa.binary())
    if kind is Kind.DATE:
        return _check_date_range(pc.cast(array, target))
    return pc.cast(array, target)


def _round_to_micros(array: pa.Array) -> pa.Array:
    """Nanosecond timestamps or times → microseconds, rounded as PostgreSQL rounds text.

    Its input functions read the fraction of the second as a double and take
    rint(fraction * 1e6) (round half to even on that double), which is what
    this does: ``.0000005`` becomes 0, ``.0000015`` becomes 2.
    """
    data_type = array.type
    nanos = pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    seconds = np.floor_divide(nanos, _NANOS_PER_SECOND)
    fraction = (nanos - seconds * _NANOS_PER_SECOND) / _NANOS_PER_SECOND
    micros = seconds * _MICROS_PER_SECOND + np.rint(fraction * _MICROS_PER_SECOND).astype(np.int64)
    mask = pc.is_null(array).to_numpy(zero_copy_only=False) if array.null_count else None
    if pa.types.is_timestamp(data_type):
        target: pa.DataType = pa.timestamp("us", tz=data_type.tz)
    else:
        target = pa.time64("us")
    return pa.array(micros, pa.int64(), mask=mask).cast(target)


def _check_timestamp_range(array: pa.Array) -> pa.Array:
    micros = array.cast(pa.int64())
    too_early = pc.fill_null(pc.less(micros, MIN_TIMESTAMP_MICROS), False)
    if pc.any(too_early).as_py():
        raise ValueError("timestamp out of range: PostgreSQL's begin at 4714-11-24 BC")
    return array


def _check_date_range(array: pa.Array) -> pa.Array:
    days = array.cast(pa.int32())
    outside = pc.or_(pc.less(days, MIN_DATE_DAYS), pc.greater_equal(days, END_DATE_DAYS))
    if pc.any(pc.fill_null(outside, False)).as_py():
        raise ValueError("date out of range: PostgreSQL's run from 4714-11-24 BC to 5874897 AD")
    return array


def _is_uuid(data_type: pa.DataType) -> bool:
    return isinstance(data_type, pa.BaseExtensionType) and data_type.extension_name == "arrow.uuid"


def _temporal_text(array: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        text = pc.strftime(array, format="%Y-%m-%d %H:%M:%S%z")
    elif pa.types.is_timestamp(array.type):
        text = pc.strftime(array, format="%Y-%m-%d %H:%M:%S")
    else:
        text = pc.cast(array, pa.string())
    return text


def _to_numeric(array: pa.Array, pg_type: PgType) -> pa.Array:
    source = array.type
    if pa.types.is_floating(source):
        # The float's shortest exact text, then decimal rounding: as float8::numeric does.
        finite = pc.is_finite(array)
        if not pc.all(pc.fill_null(finite, True)).as_py():
            raise ValueError("NaN or infinity cannot be stored as numeric by pgingest")
        return parse_numeric(pc.cast(array, pa.string()), pg_type)
    if pa.types.is_decimal(source):
        constrained = pg_type.numeric_precision_scale
        scale = constrained[1] if constrained else source.scale
        if source.scale > scale:
            array = pc.round(array, ndigits=scale, round_mode="half_towards_infinity")
        return pc.cast(array, arrow_type_for(pg_type, numeric_scale=scale))
    if pa.types.is_integer(source) or pa.types.is_boolean(source):
        return pc.cast(pc.cast(array, pa.int64()), arrow_type_for(pg_type, numeric_scale=0))
    return parse_numeric(pc.cast(array, pa.string()), pg_type)


def _to_uuid(array: pa.Array) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    if pa.types.is_fixed_size_binary(array.type) and array.type.byte_width == 16:
        return array
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        lengths = pc.binary_length(array)
        if not pc.all(pc.fill_null(pc.equal(lengths, 16), True)).as_py():
            raise ValueError("a binary uuid value is not 16 bytes long")
        return pc.cast(array, pa.binary(16))
    raise TypeError(f"cannot convert {array.type} to uuid")


def _to_timestamptz(array: pa.Array, timezone: str) -> pa.Array:
    source = array.type
    if pa.types.is_date(source):
        array = pc.cast(array, pa.timestamp("us"))
        source = array.type
    if pa.types.is_timestamp(source):
        array = _round_to_micros(array) if source.unit == "ns" else array
        if source.tz is None:
            array = _local_to_instant(pc.cast(array, pa.timestamp("us")), timezone)
        return pc.cast(array, pa.timestamp("us", tz="UTC"))
    raise TypeError(f"cannot convert {source} to timestamptz")


def _local_to_instant(local: pa.Array, timezone: str) -> pa.Array:
    """Zone-less local times → instants, as PostgreSQL reads ``'...'::timestamptz``.

    Its rule (DetermineTimeZoneOffset): a time in a spring-forward gap takes the
    offset in force before the gap (02:30 New York → 03:30 EDT); a time that
    occurs twice takes the offset after the fall-back (01:30 → 01:30 EST).
    Arrow's "earliest" instant for a gap time lies just before the gap, so its
    offset is the one before; "latest" for a twice-occurring time is the second.
    """
    _require_known_zone(timezone)
    probe = pc.assume_timezone(local, timezone=timezone, ambiguous="latest", nonexistent="earliest")
    offset = pc.subtract(
        pc.local_timestamp(probe).cast(pa.int64()), probe.cast(pa.timestamp("us")).cast(pa.int64())
    )
    instants = pc.subtract(local.cast(pa.int64()), offset)
    instants = local_to_instants(local.cast(pa.int64()), instants, timezone)
    return instants.cast(pa.timestamp("us", tz="UTC"))


def _require_known_zone(timezone: str) -> None:
    if not is_known_zone(timezone):
        raise ValueError(
            f"the server's TimeZone {timezone!r} is unknown to pgingest, so a time without "
            "its offset cannot be read exactly: set TimeZone to a zone name such as 'UTC' "
            "or 'Europe/Paris' (ALTER DATABASE ... SET TimeZone)"
        )


def _to_timestamp(array: pa.Array, timezone: str) -> pa.Array:
    source = array.type
    if not (pa.types.is_timestamp(source) or pa.types.is_date(source)):
        raise TypeError(f"cannot convert {source} to timestamp")
    if pa.types.is_timestamp(source) and source.unit == "ns":
        array = _round_to_micros(array)
    if pa.types.is_timestamp(source) and source.tz is not None:
        _require_known_zone(timezone)
        instants = pc.cast(array, pa.timestamp("us", tz=timezone))
        local = pc.local_timestamp(instants).cast(pa.int64())
        local = instants_to_local(instants.cast(pa.int64()), local, timezone)
        array = local.cast(pa.timestamp("us"))
    return pc.cast(array, pa.timestamp("us"))
