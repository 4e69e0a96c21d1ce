"""Synthesise one part of the "events" data set as a typed Arrow table, vectorised.

Each part has its own seeded random stream, so a part's rows depend only on
(seed, part index, first id, row count): the 8-file and the one-file layouts
hold exactly the same rows, and a rerun writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from events_arrow import ARROW_SCHEMA, PRICE_TYPE
from uuids import UUID_BYTES

SESSION_NULL_SHARE = 0.05  # issue #3: 5% of session_id are NULL
PRICE_NULL_SHARE = 0.02  # issue #3: 2% of price are NULL
NOTE_NULL_SHARE = 0.5  # issue #3: half of note is NULL
MOBILE_SHARE = 0.4
USER_AGENT_MIN, USER_AGENT_MAX = 40, 120  # issue #3: 40–120 characters
MAX_USER_ID = 10_000_000
MAX_QUANTITY = 20
MAX_PRICE_CENTS = 5_000_00  # prices below 5,000.00
# One year of event times, to the microsecond, from 2024-01-01T00:00:00Z.
FIRST_EVENT_US = 1_704_067_200 * 1_000_000
EVENT_SPAN_US = 366 * 86_400 * 1_000_000

COUNTRIES = ("US", "DE", "FR", "JP", "BR", "IN", "GB", "ES", "IT", "NL", "CA", "MX", "PL", "SE")
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "signup", "logout", "search")
# Notes carry what trips CSV and JSON writers and readers: commas, double
# quotes, embedded newlines, non-ASCII text; a serial number keeps them apart.
NOTES = (
    "plain note",
    "delivered, left at the door",
    'customer said "great service"',
    "line one\nline two",
    'mixed: "a, b"\nand more',
    "café crème, naïve résumé",
    "日本語のメモ ✓",
    "emoji 🚀 and ümlauts",
    "tab\tseparated\tbits",
    "trailing spaces   ",
)
_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36 Edg/120.0.2210.77 OPR/105.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0 "
    "(compatible; ExampleBot/2.1; +https://example.org/bot.html) Extra/1.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1 Instagram/312",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36 SamsungBrowser/23.0 wv",
)


@dataclass(frozen=True, kw_only=True)
class PartSpec:
    """Which rows one part holds: ids first_id .. first_id + rows - 1."""

    seed: int
    index: int
    first_id: int
    rows: int


def synthesize_part(spec: PartSpec) -> pa.Table:
    """Build the part's rows with the exact Arrow types of ARROW_SCHEMA."""
    rng = np.random.default_rng([spec.seed, spec.index])
    count = spec.rows
    columns = {
        "event_id": pa.array(np.arange(spec.first_id, spec.first_id + count, dtype=np.int64)),
        "occurred_at": _event_times(rng, count),
        "user_id": pa.array(rng.integers(1, MAX_USER_ID, count, dtype=np.int32)),
        "session_id": _session_ids(rng, count),
        "country": _pick(rng, COUNTRIES, count),
        "event_type": _pick(rng, EVENT_TYPES, count),
        "price": _prices(rng, count),
        "quantity": pa.array(rng.integers(1, MAX_QUANTITY + 1, count, dtype=np.int32)),
        "is_mobile": pa.array(rng.random(count) < MOBILE_SHARE),
        "user_agent": _user_agents(rng, count),
        "note": _notes(rng, count),
    }
    return pa.table(columns, schema=ARROW_SCHEMA)


def _event_times(rng: np.random.Generator, count: int) -> pa.Array:
    micros = FIRST_EVENT_US + rng.integers(0, EVENT_SPAN_US, count, dtype=np.int64)
    return pa.array(micros, pa.timestamp("us", tz="UTC"))


def _session_ids(rng: np.random.Generator, count: int) -> pa.Array:
    raw = np.frombuffer(rng.bytes(count * UUID_BYTES), dtype=np.uint8).reshape(count, UUID_BYTES)
    raw = raw.copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    storage = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(UUID_BYTES), count, [None, pa.py_buffer(raw.tobytes())]
    )
    is_null = rng.random(count) < SESSION_NULL_SHARE
    storage = pc.if_else(pa.array(is_null), pa.scalar(None, storage.type), storage)
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def _pick(rng: np.random.Generator, choices: tuple[str, ...], count: int) -> pa.Array:
    return pa.array(choices).take(pa.array(rng.integers(0, len(choices), count)))


def _prices(rng: np.random.Generator, count: int) -> pa.Array:
    cents = rng.integers(1, MAX_PRICE_CENTS, count, dtype=np.int64)
    # decimal128 stores the unscaled value as a 16-byte little-endian integer;
    # every price is positive, so the high word is zero.
    words = np.zeros((count, 2), dtype=np.int64)
    words[:, 0] = cents
    prices = pa.Decimal128Array.from_buffers(PRICE_TYPE, count, [None, pa.py_buffer(words)])
    is_null = rng.random(count) < PRICE_NULL_SHARE
    return pc.if_else(pa.array(is_null), pa.scalar(None, PRICE_TYPE), prices)


def _user_agents(rng: np.random.Generator, count: int) -> pa.Array:
    templates = np.array(
        [np.frombuffer(text.encode("ascii")[:USER_AGENT_MAX], np.uint8) for text in _BROWSERS]
    )
    lengths = rng.integers(USER_AGENT_MIN, USER_AGENT_MAX + 1, count)
    rows = templates[rng.integers(0, len(_BROWSERS), count)]
    keep = np.arange(USER_AGENT_MAX) < lengths[:, None]
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(rows[keep].tobytes())
    )


def _notes(rng: np.random.Generator, count: int) -> pa.Array:
    texts = _pick(rng, NOTES, count)
    serials = pc.cast(pa.array(rng.integers(0, 1_000_000, count)), pa.string())
    notes = pc.binary_join_element_wise(texts, " #", serials, "")
    is_null = rng.random(count) < NOTE_NULL_SHARE
    return pc.if_else(pa.array(is_null), pa.scalar(None, pa.string()), notes)
