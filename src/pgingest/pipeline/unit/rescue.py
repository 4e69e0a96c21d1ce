"""The rescued column: per row, the fields the table lacks and the values that failed.

Like Databricks Auto Loader's ``_rescued_data``, a row's rescued value is a
JSON object ``{"field": "raw text", ..., "_file_path": "the file"}`` holding
each file field the table has no column for and each value that could not be
converted to its column's type (the column then gets NULL); rows with nothing
to rescue get NULL. Keys are the file's field names, as the file spells them.

Cost: the fields are gathered vectorised; only rows with something to rescue
cost Python work (one dict and one ``json.dumps`` per such row).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pgingest.convert import BadValue, ConvertContext, convert_column
from pgingest.convert.arrow import dump_json
from pgingest.match import UnitPlan

__all__ = ["FILE_PATH_KEY", "rescued_column"]

# Auto Loader records the record's file under this key; so does pgingest.
FILE_PATH_KEY = "_file_path"


def rescued_column(
    plan: UnitPlan, data: pa.RecordBatch, bad: list[BadValue], ctx: ConvertContext
) -> pa.Array:
    """The rescued value of every row of ``data`` (a parsed batch, extra fields last)."""
    assert plan.rescued is not None
    rows: dict[int, dict[str, str | None]] = {}
    first_extra = len(plan.matches)
    for offset, name in enumerate(plan.rescued_fields):
        values = _as_text(data.column(first_extra + offset))
        present = pc.is_valid(values).to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(present).tolist():
            rows.setdefault(row, {})[name] = values[row].as_py()
    file_names = {m.target.name: m.file_column for m in plan.matches}
    for value in bad:
        rows.setdefault(value.row, {})[file_names.get(value.column, value.column)] = value.value
    texts: list[str | None] = [None] * data.num_rows
    for row, fields in rows.items():
        texts[row] = json.dumps({**fields, FILE_PATH_KEY: plan.file.path}, ensure_ascii=False)
    return convert_column(pa.array(texts, pa.string()), plan.rescued.type, ctx)


def _as_text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A read column as text: careful reads hand over bytes (undecodable bytes replaced);
    typed columns (Parquet) as their text, nested ones as JSON."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
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
