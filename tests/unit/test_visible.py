"""`contract.visible`: a backend's value is shown so that what would be invisible is seen.

A run_id that differs from the expected one only by terminal escapes, a bidi override, a
zero-width space or a trailing space must not look like the expected one anywhere the gate shows
it: the suite's `[rule]` lines, the harness's summary, the report page.
"""

from __future__ import annotations

import pytest

from contract.rules import Violation, check_run
from contract.visible import show, show_frame
from tasks.report.summary import Summary
from tests.mission_critical.engine.event_schemas import schema_errors
from tests.unit.wire_events import IDS, wire

TERMINAL_ESCAPES = "mc-run-1\x1b]0;owned\x07\x1b[2J"  # set the title, clear the screen
CASES = [
    # (what, value, shown)
    ("an id", "mc-run-1f3a", "mc-run-1f3a"),
    ("a version", "v1.2.3+build/7", "v1.2.3+build/7"),
    ("terminal escapes", TERMINAL_ESCAPES, "'mc-run-1\\x1b]0;owned\\x07\\x1b[2J'"),
    ("a NUL", "run\x00", "'run\\x00'"),
    ("a newline", "run\n1", "'run\\n1'"),
    ("a bidi override", "mc-run-\u202e1a", "'mc-run-\\u202e1a'"),
    ("a bidi isolate", "\u2066run\u2069", "'\\u2066run\\u2069'"),
    ("a zero-width space", "mc-run\u200b-1", "'mc-run\\u200b-1'"),
    ("a zero-width joiner", "run\u200d1", "'run\\u200d1'"),
    ("a byte-order mark", "\ufeffrun", "'\\ufeffrun'"),
    ("a trailing space", "mc-run-1 ", "'mc-run-1 '"),
    ("a leading space", " mc-run-1", "' mc-run-1'"),
    ("a no-break space", "mc-run\xa01", "'mc-run\\xa01'"),
    ("an empty string", "", "''"),
    ("a string that reads as null", "null", "'null'"),
    ("a string that reads as a number", "12", "'12'"),
    ("a string with a quote", "it's", '"it\'s"'),
    ("null", None, "null"),
    ("true", True, "true"),
    ("a number", 1700000000000, "1700000000000"),
    ("an object holding a bidi override", {"a": "\u202e"}, '{"a":"\\u202e"}'),
]


@pytest.mark.parametrize(("value", "shown"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_show_makes_what_would_be_invisible_visible(value: object, shown: str) -> None:
    assert show(value) == shown
    assert show(value).isprintable()


def test_a_shown_string_never_looks_like_a_plain_one() -> None:
    plain = show("mc-run-1")
    for sneaky in ("mc-run-1 ", "mc-run-1\u200b", "\u202emc-run-1", f"'{plain}'"):
        assert show(sneaky) != plain


def test_a_long_value_is_cut_and_says_how_much_is_left() -> None:
    assert show("x" * 250, limit=200) == "x" * 200 + "... (50 more characters)"


def test_a_raw_frame_keeps_its_line_breaks_and_escapes_the_rest() -> None:
    raw = '{"type": "agent_started",\n "run_id": "r\u202e1\u200b"}'
    assert show_frame(raw) == '{"type": "agent_started",\n "run_id": "r\\u202e1\\u200b"}'


def test_the_suites_lines_show_a_wrong_run_id_visibly() -> None:
    kinds = ["agent_started", "agent_thinking", "agent_completed"]
    events = [wire(kind) for kind in kinds]
    events[1]["run_id"] = f"{IDS.run_id}\u200b"
    (violation,) = check_run(events, IDS, schema_errors=schema_errors)
    assert violation.rule == "ids"
    assert f"run_id='{IDS.run_id}\\u200b'" in violation.detail
    assert str(violation).isprintable()


def test_a_violation_line_shows_a_server_chosen_run_id_visibly() -> None:
    line = str(Violation("ids", TERMINAL_ESCAPES, "user-a", "expected ..."))
    assert "\x1b" not in line
    assert "run='mc-run-1\\x1b]0;owned\\x07\\x1b[2J'" in line


def test_the_summary_shows_a_backend_version_visibly() -> None:
    text = Summary(requested="local", backend_version="1.0\x1b[2J").as_text()
    assert "\x1b" not in text
    assert "version     : '1.0\\x1b[2J'" in text
