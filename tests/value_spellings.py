"""Hypothesis strategies: values as users spell them, valid, at the edges, and invalid.

Each strategy yields the text of one field (None for NULL). Spellings come
from what real files hold: hex, signs, exponents, padding, infinity, NaN, BC,
times in daylight-saving gaps and overlaps, array escapes, and plain junk
made of the characters each type's parser looks at.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal

from hypothesis import strategies as st

Spellings = st.SearchStrategy[str | None]

_JUNK_ALPHABET = "0123456789+-.eExX :/TZaAbBcdfinNstuyPMDHS{}\\\"', "


def junk() -> st.SearchStrategy[str]:
    """Short strings of the characters parsers care about."""
    return st.text(alphabet=_JUNK_ALPHABET, max_size=12)


def _pick(value: object, forms: list[Callable[[object], str]]) -> st.SearchStrategy[str]:
    return st.sampled_from(forms).map(lambda form: form(value))


def _render(values: st.SearchStrategy[object], forms: list[Callable[[object], str]]) -> Spellings:
    return values.flatmap(lambda v: _pick(v, forms))


def _integer_forms() -> list[Callable[[object], str]]:
    return [
        str,
        lambda v: f"+{v}",
        lambda v: f" {v} ",
        lambda v: f"{v:05d}" if isinstance(v, int) and v >= 0 else str(v),
        lambda v: hex(v) if isinstance(v, int) else str(v),
        lambda v: f"{v}.0",
        lambda v: f"{v}e0",
        lambda v: f"{v:_}" if isinstance(v, int) else str(v),
    ]


def integers(bits: int) -> Spellings:
    edge = 2 ** (bits - 1)
    values = st.one_of(
        st.integers(-edge - 2, edge + 2),
        st.sampled_from([edge - 1, -edge, edge, -edge - 1, 2 * edge - 1, 0]),
    )
    return st.one_of(_render(values, _integer_forms()), junk(), st.none())


def numerics() -> Spellings:
    plain = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 60
    )
    forms: list[Callable[[object], str]] = [
        str,
        lambda d: f"{d:f}",
        lambda d: f"{d:e}",
        lambda d: f" {d:f} ",
        lambda d: f"+{d:f}" if isinstance(d, Decimal) and d >= 0 else f"{d:f}",
        lambda d: f"{d:f}0",
    ]
    wide = st.integers(0, 10**45).map(lambda n: f"{n}.{n % 1000:03d}")
    special = st.sampled_from(
        [
            "NaN",
            "nan",
            "Infinity",
            "-Infinity",
            "inf",
            "+inf",
            " NaN ",
            "1.5e+1",
            "43.0",
            "1.",
            ".5",
        ]
    )
    return st.one_of(_render(plain, forms), wide, special, junk(), st.none())


def floats() -> Spellings:
    forms: list[Callable[[object], str]] = [repr, lambda f: f"{f:e}", lambda f: f"{f:.17g}", str]
    special = st.sampled_from(
        ["1e-50", "1e-400", "1e400", "3.5e38", "1e-45", "1e-46", "NaN", "-Infinity", "inf",
         " 1.5 ", "+2", "-0", "0x10", "1e-39", "2.2250738585072014e-308", "4.9e-324"]
    )  # fmt: skip
    values = st.floats(allow_nan=True, allow_infinity=True)
    return st.one_of(_render(values, forms), special, junk(), st.none())


def booleans() -> Spellings:
    words = ["t", "true", "TRUE", "True", "y", "yes", "on", "ON", "1", "f", "false", "no",
             "off", "0", "of", "o", " yes ", "tr", "fal", "ye", "n", "2", "truee", ""]  # fmt: skip
    return st.one_of(st.sampled_from(words), junk(), st.none())


def _date_forms() -> list[Callable[[object], str]]:
    def bc(d: object) -> str:
        assert isinstance(d, dt.date)
        return f"{d.isoformat()} BC"

    return [
        lambda d: d.isoformat() if isinstance(d, dt.date) else str(d),
        lambda d: d.strftime("%b %d %Y") if isinstance(d, dt.date) else str(d),
        lambda d: d.strftime("%Y%m%d") if isinstance(d, dt.date) else str(d),
        lambda d: f" {d} ",
        bc,
    ]


def dates() -> Spellings:
    special = st.sampled_from(
        ["0000-01-05", "10000-01-01", "2024-02-30", "2024-02-29", "2023-02-29", "infinity",
         "-infinity", "epoch", "today", "0001-01-01", "9999-12-31", "1999-1-5", "5874897-12-31"]
    )  # fmt: skip
    values = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
    return st.one_of(_render(values, _date_forms()), special, junk(), st.none())


def times() -> Spellings:
    values = st.times()
    forms: list[Callable[[object], str]] = [
        lambda t: t.isoformat() if isinstance(t, dt.time) else str(t),
        lambda t: t.strftime("%H:%M") if isinstance(t, dt.time) else str(t),
        lambda t: t.strftime("%I:%M %p") if isinstance(t, dt.time) else str(t),
        lambda t: f"{t.isoformat()}123" if isinstance(t, dt.time) and t.microsecond else str(t),
    ]
    special = st.sampled_from(
        ["24:00", "24:00:00", "24:00:01", "23:59:59.9999999", "12:00:00.1234565", "1:2:3",
         "10:00:00+02", "allballs", "25:00"]
    )  # fmt: skip
    return st.one_of(_render(values, forms), special, junk(), st.none())


# Local times around daylight-saving transitions in America/New_York and Europe/London.
_TRANSITIONS = [
    "2024-03-10 02:30", "2024-03-10 01:59:59", "2024-03-10 03:00", "2024-11-03 01:30",
    "2024-11-03 00:59:59.999999", "2024-11-03 02:00", "2024-03-31 01:30", "2024-10-27 01:30",
    "2024-03-31 00:59:59", "2024-10-27 02:00", "1918-03-31 02:30", "2037-03-08 02:30",
    "2100-03-14 02:30", "1883-11-18 12:03:58", "1847-12-01 00:00", "1970-04-26 02:30",
]  # fmt: skip


def _timestamp_forms(zoned: bool) -> list[Callable[[object], str]]:
    def iso(v: object, sep: str = " ") -> str:
        assert isinstance(v, dt.datetime)
        return v.isoformat(sep=sep)

    return [
        iso,
        lambda v: iso(v, "T"),
        lambda v: iso(v) + "+05:30",
        lambda v: iso(v) + "Z",
        lambda v: iso(v) + " PST",
        lambda v: iso(v) + " America/New_York",
        lambda v: iso(v) + "123" if isinstance(v, dt.datetime) and v.microsecond else iso(v),
        lambda v: iso(v) + " BC",
        lambda v: v.strftime("%b %d %Y %H:%M") if isinstance(v, dt.datetime) else str(v),
        lambda v: v.strftime("%Y-%m-%d %H") if isinstance(v, dt.datetime) else str(v),
        lambda v: iso(v) + ("-04" if zoned else ""),
    ]


def timestamps(*, zoned: bool) -> Spellings:
    values = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59))
    near_transitions = st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1)).map(
        lambda v: v.replace(month=[3, 10, 11][v.month % 3], day=min(v.day, 28), hour=v.hour % 4)
    )
    special = st.sampled_from(
        [*_TRANSITIONS, "infinity", "-infinity", "epoch", "0000-01-01 00:00", "10000-01-01 00:00",
         "2024-01-05 10", "2024-01-05 24:00", "2024-01-05T10:00:00.1234567Z", "2024-01-05"]
    )  # fmt: skip
    rendered = _render(st.one_of(values, near_transitions), _timestamp_forms(zoned))
    return st.one_of(rendered, special, junk(), st.none())


def intervals() -> Spellings:
    units = st.sampled_from(["day", "days", "hour", "mins", "s", "mon", "years", "weeks", "ms"])
    numbers = st.one_of(st.integers(-10_000, 10_000).map(str), st.floats(-1e4, 1e4).map(str))
    worded = st.tuples(numbers, units).map(lambda p: f"{p[0]} {p[1]}")
    special = st.sampled_from(
        ["1 year 2 mons 3 days 04:05:06.5", "-1 days +02:03:00", "@ 3 hours ago", "P1Y2M3DT4H5M6S",
         "1.5 months", "10", "1-2", "P1D", "PT", "1 fortnight", "1:2:3", "178000000 years"]
    )  # fmt: skip
    return st.one_of(worded, special, junk(), st.none())


def uuids() -> Spellings:
    forms: list[Callable[[object], str]] = [
        str,
        lambda u: str(u).upper(),
        lambda u: "{" + str(u) + "}",
        lambda u: u.hex if isinstance(u, uuid.UUID) else str(u),
        lambda u: "{" + str(u),
        lambda u: (
            "-".join(u.hex[i : i + 4] for i in range(0, 32, 4))
            if isinstance(u, uuid.UUID)
            else str(u)
        ),
        lambda u: f" {u} ",
        lambda u: str(u)[:-1],
    ]
    return st.one_of(_render(st.uuids(), forms), junk(), st.none())


def jsons() -> Spellings:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
    )
    documents = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    ).map(json.dumps)
    special = st.sampled_from(['"a\\ud800b"', "{", "[1,]", "1e400", '"\\u0000"', " 1 ", "NaN"])
    return st.one_of(documents, special, junk(), st.none())


def byteas() -> Spellings:
    forms: list[Callable[[object], str]] = [
        lambda b: "\\x" + b.hex() if isinstance(b, bytes) else str(b),
        lambda b: "\\X" + b.hex().upper() if isinstance(b, bytes) else str(b),
        lambda b: "".join(f"\\{c:03o}" for c in b) if isinstance(b, bytes) else str(b),
        lambda b: "\\x " + b.hex() if isinstance(b, bytes) else str(b),
        lambda b: b.decode("latin-1").replace("\\", "\\\\") if isinstance(b, bytes) else str(b),
    ]
    special = st.sampled_from(["\\x0", "\\xzz", "a\\b", "\\\\", "\\400", "\\x 41 42"])
    return st.one_of(_render(st.binary(max_size=6), forms), special, junk(), st.none())


def texts() -> Spellings:
    characters = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
    return st.one_of(st.text(characters, max_size=8), st.sampled_from(["ab  ", "  ", "abcdef"]))


def enum_labels() -> Spellings:
    return st.one_of(st.sampled_from(["red", "green", "Red", " red", "blue", ""]), st.none())


def _quoted(element: str | None) -> str:
    if element is None:
        return "NULL"
    return '"' + element.replace("\\", "\\\\").replace('"', '\\"') + '"'


def arrays(elements: Spellings) -> Spellings:
    """Array literals built from element spellings, plainly, quoted and escaped, or broken."""
    items = st.lists(elements, max_size=4)
    plain = items.map(lambda xs: "{" + ",".join("NULL" if x is None else x for x in xs) + "}")
    quoted = items.map(lambda xs: "{" + ",".join(_quoted(x) for x in xs) + "}")
    special = st.sampled_from(
        ["{a\\,b}", "{\\NULL}", "{a\\\\b}", "{1\\,2}", '{"a\\}', "{}", "{ }", "{{1,2},{3,4}}",
         "[0:1]={1,2}", "{1,2", "1,2", '{"NULL",null}', "{ 1 , 2 }", "{{}}", "{,}"]
    )  # fmt: skip
    return st.one_of(plain, quoted, special, junk().map(lambda j: "{" + j + "}"), st.none())
