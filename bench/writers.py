"""Write a typed "events" table as CSV, NDJSON or Parquet, vectorised.

CSV is what PostgreSQL's `COPY ... (FORMAT csv, HEADER)` reads: a header line,
fields quoted only when needed, quotes doubled, NULL an unquoted empty field.
pyarrow has no JSON writer, so NDJSON lines are assembled with Arrow string
kernels, one column fragment at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from uuids import uuid_array_to_text

CSV_WRITE_OPTIONS = pcsv.WriteOptions(include_header=True, quoting_style="needed")
# Snappy is pyarrow's default and what most Parquet producers write.
PARQUET_COMPRESSION = "snappy"
# JSON escapes for the characters the data set can hold (RFC 8259 §7); the
# backslash goes first so later escapes are not escaped again.
JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_CONTROL_CHARACTER = r"[\x00-\x1f]"


def as_text_uuids(table: pa.Table) -> pa.Table:
    """Replace every uuid column by its text form, as CSV and JSON carry it."""
    for index, field in enumerate(table.schema):
        if field.type == pa.uuid():
            texts = [uuid_array_to_text(chunk) for chunk in table.column(index).chunks]
            column = pa.chunked_array(texts, pa.string())
            table = table.set_column(index, pa.field(field.name, pa.string()), column)
    return table


def write_csv(table: pa.Table, path: Path) -> None:
    """Write one CSV file with a header line."""
    pcsv.write_csv(as_text_uuids(table), path, write_options=CSV_WRITE_OPTIONS)


def open_csv_writer(path: Path, schema: pa.Schema) -> pcsv.CSVWriter:
    """A CSV writer that appends tables of `schema` (uuid columns as text) to one file."""
    text_schema = as_text_uuids(schema.empty_table()).schema
    return pcsv.CSVWriter(path, text_schema, write_options=CSV_WRITE_OPTIONS)


def write_parquet(table: pa.Table, path: Path, *, is_uuid_logical: bool = False) -> None:
    """Write one Parquet file; uuid columns as text, or as Parquet's UUID logical type.

    Text is what most producers (pandas, Spark) write for uuids, and what every
    peer reads; the UUID logical type is kept as an option for pgingest, which
    cannot load it yet (see bench/README.md).
    """
    if not is_uuid_logical:
        table = as_text_uuids(table)
    pq.write_table(table, path, compression=PARQUET_COMPRESSION)


def write_ndjson(table: pa.Table, path: Path) -> None:
    """Write one JSON object per line, keys in column order, NULL as null."""
    table = as_text_uuids(table)
    pieces: list[pa.Array | str] = []
    for index, field in enumerate(table.schema):
        separator = "{" if index == 0 else ","
        pieces.append(f'{separator}"{field.name}":')
        pieces.append(_json_values(table.column(index).combine_chunks(), field.type))
    pieces.append("}\n")
    lines = pc.binary_join_element_wise(*pieces, "")
    path.write_bytes(_string_bytes(lines))


def _json_values(values: pa.Array, value_type: pa.DataType) -> pa.Array:
    if pa.types.is_string(value_type):
        rendered = _json_string(values)
    elif pa.types.is_timestamp(value_type):
        rendered = _json_string(pc.strftime(values, format="%Y-%m-%dT%H:%M:%SZ"))
    else:  # integers, decimals and booleans are JSON literals as Arrow prints them
        rendered = pc.cast(values, pa.string())
    return pc.fill_null(rendered, "null")


def _json_string(values: pa.Array) -> pa.Array:
    escaped = values
    for raw, escape in JSON_ESCAPES:
        escaped = pc.replace_substring(escaped, raw, escape)
    if pc.any(pc.match_substring_regex(escaped, _CONTROL_CHARACTER)).as_py():
        raise ValueError("a value holds a control character with no JSON escape here")
    return pc.binary_join_element_wise('"', escaped, '"', "")


def _string_bytes(strings: pa.Array) -> memoryview:
    """The concatenated bytes of a string array (no NULLs), wherever its slice starts."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)
    first = int(offsets[strings.offset])
    last = int(offsets[strings.offset + len(strings)])
    return memoryview(strings.buffers()[2])[first:last]
