"""Connection strings shown without their secrets: in messages, logs, reports and repr().

libpq takes a database URL in two spellings (PostgreSQL docs, "Connection
Strings"): a URI, ``postgresql://user:password@host/db?password=...``, and a
keyword string, ``host=db password='pw with space'``. Secrets hide in several
places: the user info of a URI, the ``password`` and ``sslpassword``
parameters (%-encoded or quoted, with escaped quotes), ``options`` (server
settings, which may carry anything), and ``PGPASSWORD`` in the environment.

Keyword strings are read with libpq's own parser (``conninfo_to_dict``), so a
value is hidden exactly where libpq would find it. What libpq cannot parse is
not shown at all: no part of it can be told safe. URIs are redacted by their
structure, so even a malformed one (an unclosed ``[`` of an IPv6 host) shows
its host and database but never its password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

__all__ = [
    "MASK",
    "SECRET_ENVIRONMENT",
    "hidden_values",
    "redact_text",
    "redact_url",
]

MASK = "***"
UNPARSEABLE = "<connection string that cannot be parsed; not shown>"

# Parameters whose value is a secret, or may hold one (options: any -c setting).
HIDDEN_KEYS = frozenset({"password", "sslpassword", "oauth_client_secret", "options"})
# Environment variables libpq reads a secret from.
SECRET_ENVIRONMENT = ("PGPASSWORD",)

_URI_PREFIX = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
# A URI or a keyword ``password=...`` as they may appear inside free text (a log line).
_URI_IN_TEXT = re.compile(r"postgres(?:ql)?://[^\s\"'<>]+", re.IGNORECASE)
_KEYWORD_IN_TEXT = re.compile(
    r"\b((?:ssl)?password|oauth_client_secret|options)(\s*=\s*)(\*\*\*|'(?:[^'\\]|\\.)*'?|[^\s'&]+)",
    re.IGNORECASE,
)


def is_uri(url: str) -> bool:
    """Whether ``url`` is in URI form (``postgresql://``) rather than keyword form."""
    return _URI_PREFIX.match(url.strip()) is not None


def _split_user_info(rest: str) -> tuple[str, str] | None:
    """``(user info, the rest after its @)`` of a URI's part after ``://``, if it has one.

    libpq ends the user info at the first ``@`` before any ``/``; a password
    holding an unencoded ``@``, ``/`` or ``?`` moves that point, so the last
    ``@`` is taken: more may be hidden, never less.
    """
    at = rest.rfind("@")
    if at < 0:
        return None
    return rest[:at], rest[at + 1 :]


def _redact_query(query: str) -> str:
    params = []
    for param in query.split("&"):
        key, has_value, _ = param.partition("=")
        is_hidden = has_value and unquote(key).strip().lower() in HIDDEN_KEYS
        params.append(f"{key}={MASK}" if is_hidden else param)
    return "&".join(params)


def _redact_uri(url: str) -> str:
    scheme_end = _URI_PREFIX.match(url.strip())
    assert scheme_end is not None
    text = url.strip()
    scheme, rest = text[: scheme_end.end()], text[scheme_end.end() :]
    split = _split_user_info(rest)
    if split is not None:
        user_info, rest = split
        user, _, password = user_info.partition(":")
        scheme += f"{user}:{MASK}@" if password else f"{user}@"
    address, has_query, query = rest.partition("?")
    return scheme + address + (f"?{_redact_query(query)}" if has_query else "")


def _parse_keywords(url: str) -> dict[str, Any] | None:
    """libpq's own reading of a connection string; None if it cannot parse it."""
    import psycopg  # noqa: PLC0415 - the CLI starts without it; only URLs need it

    try:
        return psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return None


def _redact_keywords(url: str) -> str:
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415 - see _parse_keywords

    params = _parse_keywords(url)
    if params is None:
        return UNPARSEABLE
    # In the order they were written, which libpq's parser does not keep.
    keys = sorted(params, key=url.find)
    return make_conninfo("", **{key: MASK if key in HIDDEN_KEYS else params[key] for key in keys})


def redact_url(url: str) -> str:
    """The URL with every secret replaced by ``***``; safe to log and print. Never raises."""
    try:
        return _redact_uri(url) if is_uri(url) else _redact_keywords(url)
    except Exception:  # a redaction that fails must still show nothing secret
        return UNPARSEABLE


def _uri_raw_secrets(url: str) -> set[str]:
    """The secrets of a URI as written and %-decoded, found by its structure alone."""
    text = url.strip()
    prefix = _URI_PREFIX.match(text)
    if prefix is None:
        return set()
    rest = text[prefix.end() :]
    found = set()
    split = _split_user_info(rest)
    if split is not None:
        found.add(split[0].partition(":")[2])
        rest = split[1]
    for param in rest.partition("?")[2].split("&"):
        key, _, value = param.partition("=")
        if unquote(key).strip().lower() in HIDDEN_KEYS:
            found.add(value)
    return found | {unquote(value) for value in found}


def _words(text: str) -> set[str]:
    """The values of a keyword string libpq cannot parse, word by word, quotes stripped."""
    words = set()
    for word in text.split():
        value = word.partition("=")[2] or word
        words.add(value.strip("'\\"))
    return {word for word in words if any(ch.isalnum() for ch in word)}


def hidden_values(url: str | None) -> set[str]:
    """Every secret ``url`` (and the environment) holds, in each spelling it may be printed in."""
    found: set[str] = set()
    for name in SECRET_ENVIRONMENT:
        found.add(os.environ.get(name, ""))
    if url:
        found |= _uri_raw_secrets(url)
        params = _parse_keywords(url)
        if params is None:
            params = {}
            if not is_uri(url):  # where its secret is cannot be told: hide all of it
                found.add(url.strip())
        found |= {str(params[key]) for key in HIDDEN_KEYS if params.get(key)}
    return {value for value in found if value.strip()}


def redact_text(text: str, url: str | None = None, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret of ``url`` (and the environment, and ``secrets``) masked.

    Connection strings written in the text itself are redacted too. When ``url``
    is a keyword string libpq cannot parse, where its secret is cannot be told,
    so every word of it is masked (a parse error quotes the word it stopped at).
    """
    values = hidden_values(url) | {s for s in secrets if s.strip()}
    if url and not is_uri(url) and redact_url(url) == UNPARSEABLE:
        values |= _words(url)
    for value in sorted(values, key=len, reverse=True):
        # Not inside a longer word: a password "postgres" leaves "postgresql://" readable.
        text = re.sub(rf"(?<![^\W_]){re.escape(value)}(?![^\W_])", MASK, text)
    text = _URI_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _KEYWORD_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
