"""Showing a value in a message: never a credential, never a secret, never a megabyte.

Every harness message that quotes a value the user gave goes through ``quote``:

- a URL-like value is shown through ``mask_url``: userinfo (``user:password@``) becomes
  ``***@``, the values of token-like query parameters become ``***``, a fragment is dropped;
- a long value is cut to ``QUOTE_LIMIT`` characters, with ``...`` and its full length;
- control characters are escaped (the value is shown as a Python string literal).

A secret is never passed here at all: ``values.BadValueError`` shows ``HIDDEN`` instead when
its key is a secret. ``quote`` and ``mask_url`` are pure text work and never raise, whatever they
are given; ``redact_url`` is for URLs known to parse (it says so with a ValueError otherwise).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

QUOTE_LIMIT = 80  # characters of a value shown in a message
HIDDEN = "the value (not shown: a secret)"
# A query parameter whose name says it carries a credential, or whose value looks like a JWT.
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|key|auth|jwt|sig|credential|session", re.IGNORECASE
)
_JWT_LIKE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def _mask_query(query: str) -> str:
    shown = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if equals and (_SECRET_NAME.search(name) or _JWT_LIKE.fullmatch(value)):
            shown.append(f"{name}=***")
        else:
            shown.append("***" if not equals and _JWT_LIKE.fullmatch(name) else part)
    return "&".join(shown)


def redact_url(url: str) -> str:
    """``url`` without userinfo, fragment, or the values of token-like query parameters;
    ValueError when it does not parse as a URL (``mask_url`` shows any text)."""
    urlsplit(url)
    return mask_url(url)


def mask_url(url: str) -> str:
    """What ``redact_url`` does, on any text: it never raises."""
    text = url.split("#", 1)[0]
    text, question, query = text.partition("?")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    shown = f"{scheme}{sep}{authority}{slash}{path}"
    return f"{shown}?{_mask_query(query)}" if question else shown


def _looks_like_url(value: str) -> bool:
    return any(mark in value for mark in ("://", "@", "?"))


def quote(value: str, *, limit: int = QUOTE_LIMIT) -> str:
    """``value`` as a message shows it: redacted if URL-like, cut if long, always one line."""
    shown = mask_url(value) if _looks_like_url(value) else value
    if len(shown) <= limit:
        return repr(shown)
    return f"{shown[: limit - 3] + '...'!r} ({len(value)} characters)"
