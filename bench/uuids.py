"""Vectorised conversions between 16-byte uuids and their 36-character text form.

pyarrow has no hex codec, and a Python loop over millions of uuids would
dominate both generating the data set and the ADBC peer's parse step, so both
directions work on whole numpy byte matrices.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UUID_BYTES = 16
UUID_TEXT_LENGTH = 36
# Byte positions of the hyphens in 8-4-4-4-12 form.
HYPHEN_POSITIONS = (8, 13, 18, 23)
HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Positions in the 36-character form that hold hex digits, in order.
_DIGIT_POSITIONS = np.array(
    [i for i in range(UUID_TEXT_LENGTH) if i not in HYPHEN_POSITIONS], dtype=np.intp
)
# ASCII code → nibble value; only 0-9, a-f and A-F occur in valid input.
_NIBBLE_OF_ASCII = np.zeros(256, dtype=np.uint8)
_NIBBLE_OF_ASCII[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_NIBBLE_OF_ASCII[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_NIBBLE_OF_ASCII[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_NIL_UUID_TEXT = "00000000-0000-0000-0000-000000000000"


def uuid_bytes_to_text(raw: np.ndarray, validity: np.ndarray | None) -> pa.StringArray:
    """Render an (n, 16) uint8 matrix as lower-case uuid strings; False in validity is NULL."""
    count = raw.shape[0]
    nibbles = np.empty((count, UUID_BYTES * 2), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    text = np.full((count, UUID_TEXT_LENGTH), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_POSITIONS] = HEX_DIGITS[nibbles]
    offsets = np.arange(0, (count + 1) * UUID_TEXT_LENGTH, UUID_TEXT_LENGTH, dtype=np.int32)
    strings = pa.StringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())
    )
    if validity is None:
        return strings
    return pc.if_else(pa.array(validity), strings, pa.scalar(None, pa.string()))


def uuid_array_to_text(uuids: pa.Array) -> pa.StringArray:
    """Render an Arrow uuid (or 16-byte binary) array as uuid strings, NULLs kept."""
    storage = uuids.storage if isinstance(uuids, pa.ExtensionArray) else uuids
    count = len(storage)
    data = np.frombuffer(storage.buffers()[1], dtype=np.uint8)
    raw = data[storage.offset * UUID_BYTES : (storage.offset + count) * UUID_BYTES]
    validity = storage.is_valid().to_numpy(zero_copy_only=False) if storage.null_count else None
    return uuid_bytes_to_text(raw.reshape(count, UUID_BYTES), validity)


def uuid_text_to_bytes(strings: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Parse hyphenated uuid strings (NULLs kept) into Arrow's 16-byte uuid type."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    count = len(strings)
    filled = pc.fill_null(strings, _NIL_UUID_TEXT)
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)
    offsets = offsets[filled.offset : filled.offset + count + 1]
    if np.any(np.diff(offsets) != UUID_TEXT_LENGTH):
        raise ValueError(f"every uuid must be {UUID_TEXT_LENGTH} characters with hyphens")
    first = int(offsets[0]) if count else 0
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8)[
        first : first + count * UUID_TEXT_LENGTH
    ]
    nibbles = _NIBBLE_OF_ASCII[data.reshape(count, UUID_TEXT_LENGTH)[:, _DIGIT_POSITIONS]]
    raw = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    storage = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(UUID_BYTES), count, [None, pa.py_buffer(raw.tobytes())]
    )
    if strings.null_count:
        storage = pc.if_else(pc.is_valid(strings), storage, pa.scalar(None, storage.type))
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)
