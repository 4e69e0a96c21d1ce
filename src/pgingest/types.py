"""The type plan: each PostgreSQL column type → the exact Arrow type and pgpq encoder.

Binary COPY sends every value in its type's binary wire format, so every
Arrow column must be cast to the one Arrow type whose pgpq encoding is that
format before it is encoded. The plan is keyed by the type's *receive
function* (``pg_type.typreceive``), which is what PostgreSQL calls on each
binary value: that covers domains, enums, varchar/char and citext for free.

Two types have no pgpq encoder of their own and travel as raw bytes through
the bytea encoder, which writes a value as-is: ``uuid`` (16 bytes) and
``interval`` (microseconds, days, months; see convert/binary.py). Arrays
whose element type pgpq cannot label correctly (uuid[], varchar[],
timestamptz[], ...) are assembled in array_recv's format the same way.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pgpq
import pyarrow as pa
from pgpq import encoders, schema

from pgingest.errors import LoadError

__all__ = [
    "Kind",
    "PgType",
    "TargetColumn",
    "arrow_type_for",
    "encoder_builder_for",
    "encoder_builders",
    "kind_of",
    "uses_native_list",
]


class Kind(enum.Enum):
    """How a PostgreSQL type travels in binary COPY."""

    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    NUMERIC = "numeric"
    BOOL = "bool"
    TEXT = "text"
    JSON = "json"
    JSONB = "jsonb"
    BYTEA = "bytea"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    INTERVAL = "interval"
    UUID = "uuid"
    ARRAY = "array"


# typreceive → kind. Text-like receive functions all read the value's bytes as
# text in the database encoding, so one Arrow string column serves them all.
RECEIVE_KINDS: dict[str, Kind] = {
    "int2recv": Kind.INT16,
    "int4recv": Kind.INT32,
    "int8recv": Kind.INT64,
    "float4recv": Kind.FLOAT32,
    "float8recv": Kind.FLOAT64,
    "numeric_recv": Kind.NUMERIC,
    "boolrecv": Kind.BOOL,
    "textrecv": Kind.TEXT,
    "varcharrecv": Kind.TEXT,
    "bpcharrecv": Kind.TEXT,
    "namerecv": Kind.TEXT,
    "enum_recv": Kind.TEXT,
    "citextrecv": Kind.TEXT,
    "xml_recv": Kind.TEXT,
    "json_recv": Kind.JSON,
    "jsonb_recv": Kind.JSONB,
    "bytearecv": Kind.BYTEA,
    "date_recv": Kind.DATE,
    "time_recv": Kind.TIME,
    "timestamp_recv": Kind.TIMESTAMP,
    "timestamptz_recv": Kind.TIMESTAMPTZ,
    "interval_recv": Kind.INTERVAL,
    "uuid_recv": Kind.UUID,
    "array_recv": Kind.ARRAY,
}

# numeric(p, s) with p up to 38 fits Arrow's decimal128, which pgpq encodes.
MAX_DECIMAL128_PRECISION = 38


@dataclass(frozen=True)
class PgType:
    """A column's type as the catalog describes it (domains resolved to their base)."""

    oid: int
    name: str
    receive: str
    typmod: int = -1
    element: PgType | None = None

    @property
    def numeric_precision_scale(self) -> tuple[int, int] | None:
        """(precision, scale) of a constrained numeric, None when unconstrained."""
        if self.typmod < 4:
            return None
        packed = self.typmod - 4
        precision = (packed >> 16) & 0xFFFF
        scale = packed & 0xFFFF
        if scale > 0x7FFF:  # PostgreSQL 15+ allows a negative scale, stored two's complement
            scale -= 0x10000
        return precision, scale


@dataclass(frozen=True)
class TargetColumn:
    """One column of a target table."""

    name: str
    type: PgType
    not_null: bool = False
    has_default: bool = False

    @property
    def kind(self) -> Kind:
        """How this column's values travel."""
        return kind_of(self.type, column=self.name)


def kind_of(pg_type: PgType, *, column: str | None = None) -> Kind:
    """The kind of a type, or a LoadError naming the column if pgingest cannot load it."""
    kind = RECEIVE_KINDS.get(pg_type.receive)
    if kind is None:
        raise LoadError(
            f"column type {pg_type.name} is not supported by pgingest's binary COPY",
            hint="use text, numeric, integer, timestamptz, jsonb, ... or load into a staging "
            "table and convert with SQL",
            column=column,
        )
    if kind is Kind.ARRAY:
        if pg_type.element is None:
            raise LoadError(f"array type {pg_type.name} has no element type", column=column)
        if kind_of(pg_type.element, column=column) is Kind.ARRAY:
            raise LoadError(
                f"column type {pg_type.name}: only one-dimensional arrays are supported",
                column=column,
            )
    return kind


def arrow_type_for(pg_type: PgType, *, numeric_scale: int | None = None) -> pa.DataType:
    """The Arrow type whose pgpq encoding is this type's binary format.

    ``numeric_scale`` fixes the scale of an unconstrained numeric (chosen per batch).
    """
    kind = kind_of(pg_type)
    if kind is Kind.NUMERIC:
        constrained = pg_type.numeric_precision_scale
        if constrained is not None:
            precision, scale = constrained
            if precision > MAX_DECIMAL128_PRECISION or scale < 0:
                raise LoadError(
                    f"{pg_type.name}: precision above {MAX_DECIMAL128_PRECISION} or a negative "
                    "scale is not supported",
                    hint="use numeric(p,s) with p <= 38, or unconstrained numeric",
                )
            return pa.decimal128(precision, scale)
        return pa.decimal128(MAX_DECIMAL128_PRECISION, numeric_scale or 0)
    if kind is Kind.ARRAY:
        assert pg_type.element is not None
        if uses_native_list(pg_type):
            return pa.list_(arrow_type_for(pg_type.element, numeric_scale=numeric_scale))
        return pa.binary()
    return _SCALAR_ARROW_TYPES[kind]


_SCALAR_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.INT16: pa.int16(),
    Kind.INT32: pa.int32(),
    Kind.INT64: pa.int64(),
    Kind.FLOAT32: pa.float32(),
    Kind.FLOAT64: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.TEXT: pa.string(),
    Kind.JSON: pa.string(),
    Kind.JSONB: pa.string(),
    Kind.BYTEA: pa.binary(),
    Kind.DATE: pa.date32(),
    Kind.TIME: pa.time64("us"),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    Kind.INTERVAL: pa.binary(16),
    Kind.UUID: pa.binary(16),
}

# Array elements pgpq labels with the right element OID (array_recv checks it):
# int2/4/8, float4/8, numeric, bool, text, bytea, date, time, timestamp, jsonb.
_NATIVE_LIST_ELEMENTS = {
    "int2recv",
    "int4recv",
    "int8recv",
    "float4recv",
    "float8recv",
    "numeric_recv",
    "boolrecv",
    "bytearecv",
    "date_recv",
    "time_recv",
    "timestamp_recv",
    "jsonb_recv",
}
_TEXT_OID = 25


def uses_native_list(pg_type: PgType) -> bool:
    """Whether pgpq's list encoder writes this array type correctly."""
    element = pg_type.element
    if element is None:
        return False
    if element.receive == "textrecv":
        return element.oid == _TEXT_OID
    return element.receive in _NATIVE_LIST_ELEMENTS


def encoder_builder_for(field: pa.Field, pg_type: PgType) -> Any:
    """The pgpq encoder that writes this Arrow field in the column's binary format."""
    kind = kind_of(pg_type, column=field.name)
    if pa.types.is_binary(field.type):
        # bytea, or a raw column: values already in their send format (convert/server.py)
        return pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(field)
    if kind is Kind.JSONB:
        return encoders.StringEncoderBuilder.new_with_output(field, schema.Jsonb())
    if kind is Kind.ARRAY and uses_native_list(pg_type):
        assert pg_type.element is not None
        inner = encoder_builder_for(field.type.value_field, pg_type.element)
        return encoders.ListEncoderBuilder.new_with_inner(field, inner)
    return pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(field)


def _needs_own_encoder(field: pa.Field, pg_type: PgType) -> bool:
    """Whether pgpq's inferred encoder for ``field`` would not write the column's format."""
    if pa.types.is_binary(field.type):
        return False
    kind = kind_of(pg_type, column=field.name)
    return kind is Kind.JSONB or (kind is Kind.ARRAY and uses_native_list(pg_type))


# Distinct (file schema, column types) pairs a process meets: one per table and
# file layout, a few after an unconstrained numeric widens its scale.
ENCODER_PLANS_CACHED = 256


@functools.lru_cache(maxsize=ENCODER_PLANS_CACHED)
def _cached_builders(schema: pa.Schema, types: tuple[PgType, ...]) -> dict[str, Any] | None:
    if not any(_needs_own_encoder(f, t) for f, t in zip(schema, types, strict=True)):
        return None
    return {f.name: encoder_builder_for(f, t) for f, t in zip(schema, types, strict=True)}


def encoder_builders(schema: pa.Schema, types: Sequence[PgType]) -> dict[str, Any] | None:
    """The pgpq encoder builder of each field, or None where pgpq's inference is exact.

    Built once per (schema, column types), not per COPY: with thousands of small
    files the plan would otherwise be rebuilt for each. None means every field's
    encoder is the one pgpq infers (everything but jsonb and native lists), and
    the plain encoder constructor — which builds the same encoders ~50× faster
    than ``new_with_encoders`` with a builder per field (issue 12) — is exact.
    """
    return _cached_builders(schema, tuple(types))
