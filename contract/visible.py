"""How a backend's value is shown to people: what would be invisible is made visible.

    any value a backend sent --show--> one line a person can trust (terminal, JUnit, page)
    a raw frame it sent      --show_frame--> the frame, its invisible characters escaped

A run_id that carries terminal escapes, a bidi override, a zero-width space or a trailing
space looks exactly like the expected one when it is written raw, so every place that shows a
backend's value goes through here: the suite's `[rule] ...` lines, the harness's summary and
the report page. Standard library only; no I/O.
"""

from __future__ import annotations

import json
import re

PLAIN = re.compile(r"[\w.:/@+-]+")  # ids, names, codes, versions: shown as they are
JSON_SCALAR = re.compile(r"null|true|false|-?\d+(\.\d+)?([eE][+-]?\d+)?")  # would read as JSON
SHOW_LIMIT = 200  # characters of a value shown; the rest is counted


def escape_invisible(text: str, keep: str = "") -> str:
    """`text` with every character that would not show (controls, format characters such as
    bidi overrides and zero-width spaces, separators other than the space) as its escape
    (`\\x1b`, `\\u202e`); characters in `keep` stay as they are."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in keep else repr(char)[1:-1] for char in text
    )


def show(value: object, limit: int = SHOW_LIMIT) -> str:
    """A backend's value as one line people can trust.

    A string of id-like characters only (letters, digits, `_.:/@+-`; not one that reads as a
    JSON number or literal) as itself; any other string as Python's repr, quoted, so a
    trailing space shows and control, bidi and zero-width characters are escaped (a shown repr
    always starts with a quote, which a plain one never does, so the two cannot be confused);
    any other value as compact JSON (`null`, `true`, 12), its invisible characters escaped.
    Longer than `limit` characters: cut, with the length.
    """
    if isinstance(value, str):
        text = value[:limit]
        plain = PLAIN.fullmatch(text) and not JSON_SCALAR.fullmatch(text)
        shown = text if plain else repr(text)
        extra = len(value) - len(text)
    else:
        try:
            rendered = json.dumps(value, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
        except (TypeError, ValueError):
            rendered = repr(value)
        shown, extra = escape_invisible(rendered[:limit]), max(0, len(rendered) - limit)
    return f"{shown}... ({extra} more characters)" if extra else shown


def show_frame(raw: str) -> str:
    """A raw text frame as people should see it: every character that would not show
    escaped, but line breaks and tabs (JSON's whitespace) kept."""
    return escape_invisible(raw, keep="\n\t")
