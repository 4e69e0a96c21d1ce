"""The rescued column: per row, the fields the table lacks and the values that failed.

Like Databricks Auto Loader's ``_rescued_data``, a row's rescued value is a
JSON object ``{"field": "raw text", ..., "_file_path": "the file"}`` holding
each file field the table has no column for and each value that could not be
converted to its column's type (the column then gets NULL); rows with nothing
to rescue get NULL. Keys are the file's field names, as the file spells them.

Cost: the JSON texts are built vectorised (escaping and joining with Arrow
compute), so a file whose every row has an extra field stays off per-row
Python; only failed values (few) and texts holding control characters are
escaped one by one.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert import BadValue, ConvertContext, convert_column
from pgingest.convert.arrow import dump_json
from pgingest.match import UnitPlan

__all__ = ["FILE_PATH_KEY", "json_strings", "rescued_column"]

# Auto Loader records the record's file under this key; so does pgingest.
FILE_PATH_KEY = "_file_path"


def rescued_column(
    plan: UnitPlan, data: pa.RecordBatch, bad: list[BadValue], ctx: ConvertContext
) -> pa.Array:
    """The rescued value of every row of ``data`` (a parsed batch, extra fields last)."""
    assert plan.rescued is not None
    first_extra = len(plan.matches)
    members = [
        _members(name, _as_text(data.column(first_extra + offset)))
        for offset, name in enumerate(plan.rescued_fields)
    ]
    if bad:
        members.append(_bad_members(plan, bad, data.num_rows))
    if not members:
        return convert_column(pa.nulls(data.num_rows, pa.string()), plan.rescued.type, ctx)
    has_any = np.zeros(data.num_rows, dtype=bool)
    for member in members:
        has_any |= pc.is_valid(member).to_numpy(zero_copy_only=False)
    # The path goes first so that every member can bring its own comma (jsonb keeps no
    # key order anyway); a missing member adds "" (not null_handling="skip": pyarrow
    # 26 returns a shorter array with it).
    opening = f"{{{json.dumps(FILE_PATH_KEY)}:{json.dumps(plan.file.path, ensure_ascii=False)}"
    parts = [pc.fill_null(pc.binary_join_element_wise(",", m, ""), "") for m in members]
    texts = pc.binary_join_element_wise(opening, *parts, "}", "")
    texts = pc.if_else(pa.array(has_any), texts, pa.scalar(None, pa.string()))
    return convert_column(texts, plan.rescued.type, ctx)


def _members(name: str, values: pa.Array) -> pa.Array:
    """``"name":"value"`` per row; NULL where the value is NULL."""
    key = json.dumps(name, ensure_ascii=False) + ":"
    return pc.binary_join_element_wise(key, json_strings(values), "")


def _bad_members(plan: UnitPlan, bad: list[BadValue], num_rows: int) -> pa.Array:
    """The failed values' members per row (keyed by the file's name of their column)."""
    file_names = {m.target.name: m.file_column for m in plan.matches}
    by_row: dict[int, list[str]] = {}
    for value in bad:
        name = file_names.get(value.column, value.column)
        member = (
            f"{json.dumps(name, ensure_ascii=False)}:{json.dumps(value.value, ensure_ascii=False)}"
        )
        by_row.setdefault(value.row, []).append(member)
    texts: list[str | None] = [None] * num_rows
    for row, row_members in by_row.items():
        texts[row] = ",".join(row_members)
    return pa.array(texts, pa.string())


# JSON strings must escape these (RFC 8259, section 7): the quote, the backslash, U+0000-U+001F.
_CONTROL = r"[\x00-\x1f]"


def json_strings(values: pa.Array) -> pa.Array:
    """Each text as a JSON string literal (quoted and escaped); NULL stays NULL."""
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    control = pc.fill_null(pc.match_substring_regex(values, _CONTROL), False)
    rows = np.flatnonzero(control.to_numpy(zero_copy_only=False))
    if not len(rows):
        return quoted
    # Rare: texts with control characters (newlines, tabs) are escaped by json.dumps.
    texts = values.take(pa.array(rows)).to_pylist()
    exact = pa.array([json.dumps(t, ensure_ascii=False) for t in texts], pa.string())
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(quoted, pa.array(mask), exact)


def _as_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A read column as text: careful reads hand over bytes (undecodable bytes replaced);
    typed columns (Parquet) as their text, nested ones as JSON."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        return array.cast(pa.string())
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        try:
            return array.cast(pa.string())  # checks that every value is UTF-8
        except pa.ArrowInvalid:
            pass  # some value is not: decoded one by one, bad bytes replaced
        return pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in array.to_pylist()],
            pa.string(),
        )
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_nested(array.type):  # Parquet lists, structs and maps: their JSON text
        return pa.array(
            [None if v is None else dump_json(v) for v in array.to_pylist()], pa.string()
        )
    return array.cast(pa.string())
