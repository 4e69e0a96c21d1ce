"""Array columns: literals in their simplest spelling split here, every other read by array_in.

array_in's grammar (quotes, backslash escapes, NULL, dimensions, whitespace)
is the server's: only a literal of plain elements — no quote, backslash,
brace, comma inside an element, whitespace or NULL — is split vectorised, and
only when each element is canonical for the element type. Every other
literal is read whole by the server (convert/server.py), so ``{a\\,b}`` is the
one element ``a,b`` and ``{"a\\}`` an error, exactly as COPY reads them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert.binary import array_values_to_binary
from pgingest.convert.server import column_to_binary, is_raw
from pgingest.convert.text import read_text, unconstrained_numeric
from pgingest.types import Kind, PgType, kind_of, uses_native_list

__all__ = ["build_arrays", "split_simple_literals"]

# One-dimensional, plain elements only (RE2); NULL elements are left to array_in.
_SIMPLE_LITERAL = r'^\{(?:[^{}",\\\s]+(?:,[^{}",\\\s]+)*)?\}$'
_NULL_ELEMENT = r"(?i)(?:^\{|,)null(?:,|\}$)"


def split_simple_literals(
    array: pa.Array, element: PgType, *, timezone: str
) -> tuple[pa.Array, np.ndarray]:
    """(list<string> of the simple literals, others null; which rows array_in must read)."""
    simple = pc.and_(
        pc.fill_null(pc.match_substring_regex(array, _SIMPLE_LITERAL), False),
        pc.invert(pc.fill_null(pc.match_substring_regex(array, _NULL_ELEMENT), False)),
    )
    texts = pc.if_else(simple, array, pa.scalar(None, pa.string()))
    lists = _split(texts)
    read = read_text(lists.flatten(), element, kind_of(element), timezone=timezone)
    odd = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool) & ~np.asarray(
        simple.to_numpy(zero_copy_only=False), dtype=bool
    )
    if read.has_odd:
        parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False))
        odd[np.unique(parents[read.odd])] = True
        lists = _split(pc.if_else(pa.array(~odd), texts, pa.scalar(None, pa.string())))
    return lists, odd


def _split(texts: pa.Array) -> pa.Array:
    bodies = pc.utf8_slice_codeunits(texts, 1, -1)
    empty = pc.fill_null(pc.equal(bodies, ""), False)
    parts = pc.split_pattern(pc.if_else(empty, pa.scalar(None, pa.string()), bodies), ",")
    no_elements = pa.array([[]] * len(texts), pa.list_(pa.string()))
    return pc.if_else(empty, no_elements, parts)


def build_arrays(
    lists: pa.Array,
    pg_type: PgType,
    convert_elements: Callable[[pa.Array, PgType], pa.Array],
) -> pa.Array:
    """Lists of converted elements → the column's Arrow type (or array_send bytes)."""
    element = pg_type.element
    assert element is not None
    if pa.types.is_large_list(lists.type) or pa.types.is_fixed_size_list(lists.type):
        lists = lists.cast(pa.list_(lists.type.value_type))
    if not pa.types.is_list(lists.type):
        raise TypeError(f"cannot convert {lists.type} to {pg_type.name}")
    values = convert_elements(lists.flatten(), element)
    if kind_of(element) is Kind.NUMERIC and pa.types.is_string(values.type):
        values = unconstrained_numeric(values, has_odd=False, pg_type=element)
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    mask = pc.is_null(lists) if lists.null_count else None
    rebuilt = pa.ListArray.from_arrays(offsets, values, mask=mask)
    if uses_native_list(pg_type) and not is_raw(values, element):
        return rebuilt
    return array_values_to_binary(
        rebuilt, element.oid, lambda flat: column_to_binary(flat, element)
    )
