"""The suite's contract logic (tests/mission_critical/contract.py): each rule kept and broken."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from contract.ledger import Ledger, check_foreign
from contract.routing import Demux
from contract.rules import (
    EVENT_TYPES,
    RULE_IDS,
    FrameError,
    RunIds,
    Violation,
    check_greeting,
    check_run,
    format_violations,
    normalize,
    parse_frame,
)
from tests.mission_critical.engine.event_schemas import schema_errors
from tests.unit.wire_events import CLEAN, IDS, OTHER, SHAPES, USER, wire

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def run_of(
    types: tuple[str, ...] = CLEAN, shape: str = "flat", **changes: Any
) -> list[dict[str, Any]]:
    return [normalize(wire(event_type, shape, **changes)) for event_type in types]


def rules(violations: list[Violation]) -> set[str]:
    return {violation.rule for violation in violations}


def judge(events: list[dict[str, Any]], ids: RunIds = IDS, **kwargs: Any) -> set[str]:
    return rules(check_run(events, ids, schema_errors=schema_errors, **kwargs))


# --- frames and shapes -----------------------------------------------------------------------


def test_rule_ids_are_exactly_the_protocol_table() -> None:
    table = re.findall(r"^\| `([a-z-]+)` \|", PROTOCOL.read_text("utf-8"), flags=re.MULTILINE)
    assert tuple(table) == RULE_IDS


def test_every_event_type_has_a_schema_and_a_clean_event_matches_it() -> None:
    for shape in SHAPES:
        for event_type in EVENT_TYPES:
            assert schema_errors(normalize(wire(event_type, shape))) == []


def test_normalize_keeps_flat_and_merges_data_with_the_top_level_winning() -> None:
    assert normalize({"type": "x", "a": 1}) == {"type": "x", "a": 1}
    assert normalize({"type": "x", "data": {"a": 1, "type": "y"}, "a": 2}) == {"type": "x", "a": 2}
    assert normalize({"type": "x", "data": "text"}) == {"type": "x", "data": "text"}


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        ("{nope", "not JSON"),
        ("[1]", "JSON list"),
        ('{"a": 1}', "no string 'type'"),
        (b'{"type": "x"}', "binary"),
    ],
)
def test_parse_frame_refuses_what_is_not_an_object_with_a_type(
    frame: str | bytes, why: str
) -> None:
    with pytest.raises(FrameError, match=why):
        parse_frame(frame)


def test_parse_frame_accepts_an_object_with_a_type() -> None:
    assert parse_frame('{"type": "pong"}') == {"type": "pong"}


@pytest.mark.parametrize("shape", SHAPES)
def test_greeting_needs_connection_established_with_an_id(shape: str) -> None:
    good = wire("connection_established", shape, connection_id="c1")
    assert check_greeting(normalize(good)) is None
    assert check_greeting(normalize(wire("connection_established", shape))) is not None
    assert check_greeting(normalize(wire("agent_started", shape))) is not None


# --- one run -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_a_clean_run_breaks_nothing(shape: str) -> None:
    assert judge(run_of(shape=shape), require=EVENT_TYPES) == set()


def test_a_run_without_tools_is_clean_unless_a_full_run_is_required() -> None:
    plain = ("agent_started", "agent_thinking", "agent_completed")
    assert judge(run_of(plain)) == set()
    assert judge(run_of(plain), require=EVENT_TYPES) == {"delivery"}


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"success": None}, "schema"),
        ({"timestamp": 1_700_000_000_000}, "schema"),  # milliseconds
        ({"timestamp": "yesterday"}, "schema"),
        ({"duration": -1}, "schema"),
    ],
)
def test_schema_is_broken_by_a_bad_tool_completed(change: dict[str, Any], rule: str) -> None:
    events = run_of()
    events[3] = normalize(wire("tool_completed", **change))
    assert judge(events) == {rule}


def test_iso_timestamps_and_extra_fields_are_fine() -> None:
    events = run_of(timestamp="2024-05-01T12:00:00.250+00:00", extra={"anything": True})
    assert judge(events) == set()


@pytest.mark.parametrize(
    "types",
    [
        ("agent_thinking", "agent_started", "tool_executing", "tool_completed", "agent_completed"),
        ("agent_started", "agent_started", "agent_thinking", "agent_completed"),
        ("agent_thinking", "agent_completed"),
    ],
    ids=["reordered", "twice", "missing"],
)
def test_started_first_is_broken(types: tuple[str, ...]) -> None:
    assert "started-first" in judge(run_of(types))


def test_started_first_counts_a_missing_agent_started() -> None:
    events = run_of(("agent_thinking", "agent_completed"))
    (violation,) = check_run(events, IDS, schema_errors=schema_errors)
    assert "expected agent_started exactly once, got 0" in violation.detail


def test_thinking_is_needed_before_completed() -> None:
    assert judge(run_of(("agent_started", "agent_completed"))) == {"thinking"}
    late = ("agent_started", "agent_completed", "agent_thinking")
    assert judge(run_of(late)) == {"thinking", "completed-last"}


def test_thinking_is_not_judged_on_a_run_that_never_completed() -> None:
    assert judge(run_of(("agent_started",))) == {"delivery"}


@pytest.mark.parametrize(
    ("events", "rule_broken"),
    [
        ([("tool_completed", {"execution_id": "zz"})], True),
        ([("tool_completed", {"execution_id": None, "tool_name": "other"})], True),
        ([("tool_completed", {"execution_id": None})], False),  # closes by tool_name
        ([("tool_completed", {}), ("tool_completed", {})], True),  # closed twice
        (
            [
                ("tool_completed", {}),
                ("tool_executing", {"execution_id": "e2"}),
                ("tool_completed", {"execution_id": "e2"}),
            ],
            False,
        ),
        (
            [
                ("tool_executing", {"execution_id": "e2"}),
                ("tool_completed", {"execution_id": "e2"}),
            ],
            True,  # e1 is never closed: its tool_completed was lost
        ),
    ],
    ids=[
        "unknown-execution-id",
        "unknown-tool-name",
        "by-name",
        "twice",
        "second-call",
        "first-call-left-open",
    ],
)
def test_tool_pairing(events: list[tuple[str, dict[str, Any]]], rule_broken: bool) -> None:
    head = run_of(("agent_started", "agent_thinking", "tool_executing"))
    middle = [normalize(wire(event_type, **change)) for event_type, change in events]
    found = judge([*head, *middle, *run_of(("agent_completed",))])
    assert found == ({"tool-pairing"} if rule_broken else set())


def test_tool_completed_before_its_tool_executing_is_an_orphan() -> None:
    types = (
        "agent_started",
        "agent_thinking",
        "tool_completed",
        "tool_executing",
        "agent_completed",
    )
    assert judge(run_of(types)) == {"tool-pairing"}


@pytest.mark.parametrize("tail", [("agent_thinking",), ("agent_completed",), ("tool_executing",)])
def test_completed_last_is_broken_by_anything_after_it(tail: tuple[str, ...]) -> None:
    assert judge(run_of((*CLEAN, *tail))) == {"completed-last"}


@pytest.mark.parametrize("key", ["run_id", "thread_id", "user_id"])
@pytest.mark.parametrize("shape", SHAPES)
def test_ids_must_be_the_runs_on_every_event(key: str, shape: str) -> None:
    events = run_of(shape=shape)
    change: dict[str, Any] = {key: "someone-else"}
    events[2] = normalize(wire("tool_executing", shape, **change))
    assert judge(events) == {"ids"}


def test_a_missing_id_breaks_ids_and_schema() -> None:
    events = run_of()
    events[1] = normalize(wire("agent_thinking", thread_id=None))
    assert judge(events) == {"ids", "schema"}


def test_nothing_at_all_is_only_a_delivery_failure() -> None:
    (violation,) = check_run([], IDS, schema_errors=schema_errors)
    assert violation.rule == "delivery"
    assert str(violation).startswith("[delivery] run=run-1 user=user-a: ")


def test_a_run_without_agent_completed_is_a_delivery_failure() -> None:
    assert judge(run_of(CLEAN[:-1])) == {"delivery"}


def test_a_user_message_run_learns_its_run_id_from_agent_started() -> None:
    learned = RunIds(thread_id="thread-1", user_id=USER)
    assert judge(run_of(), learned) == set()
    events = run_of()
    events[4] = normalize(wire("agent_thinking", run_id="run-2"))
    violations = check_run(events, learned, schema_errors=schema_errors)
    assert [(v.rule, v.run_id) for v in violations] == [("ids", "run-1")]


def test_a_violation_names_rule_run_user_expectation_and_seen_types() -> None:
    (violation,) = check_run(run_of(CLEAN[:-1]), IDS, schema_errors=schema_errors)
    text = str(violation)
    assert text.startswith("[delivery] run=run-1 user=user-a: expected agent_completed")
    assert text.endswith(f"seen={list(CLEAN[:-1])}")


def test_format_violations_caps_the_lines_and_counts_the_rest() -> None:
    many = [Violation("delivery", f"r{i}", USER, "x") for i in range(30)]
    text = format_violations([Violation("ids", "r", USER, "x"), *many], limit=5)
    assert text.splitlines()[0].startswith("[ids]")
    assert text.splitlines()[-1] == "... and 26 more violation(s): [delivery] x26"


# --- a connection: routing, strays, other types ---------------------------------------------


def demux_with(*ids: RunIds) -> Demux:
    demux = Demux(USER, Ledger())
    for run_ids in ids:
        demux.track(run_ids)
    return demux


def check(demux: Demux) -> set[str]:
    return rules(demux.check(schema_errors=schema_errors))


def test_demux_routes_interleaved_runs_by_run_id() -> None:
    second = RunIds(thread_id="thread-2", user_id=USER, run_id="run-2")
    demux = demux_with(IDS, second)
    for event_type in CLEAN:
        demux.route(normalize(wire(event_type, ids=second)))
        demux.route(normalize(wire(event_type, "data")))
    assert [run.seen for run in demux.runs] == [CLEAN, CLEAN]
    assert check(demux) == set()


def test_demux_routes_a_wrong_run_id_by_thread_and_reports_ids() -> None:
    demux = demux_with(IDS)
    for event_type in CLEAN:
        demux.route(
            normalize(wire(event_type, run_id="run-1-x" if event_type != CLEAN[0] else "run-1"))
        )
    assert demux.runs[0].completed
    assert check(demux) == {"ids"}


def test_demux_learns_a_user_message_run_id() -> None:
    demux = demux_with(RunIds(thread_id="thread-1", user_id=USER))
    for event_type in CLEAN:
        demux.route(normalize(wire(event_type)))
    assert demux.runs[0].run_id == "run-1"
    assert check(demux) == set()


def test_leaked_events_of_another_user_break_isolation() -> None:
    demux = demux_with(IDS)
    for event_type in CLEAN:
        demux.route(normalize(wire(event_type)))
        leaked = RunIds(thread_id="thread-b", user_id=OTHER, run_id="run-b")
        demux.route(normalize(wire(event_type, ids=leaked)))
    violations = demux.check(schema_errors=schema_errors)
    assert [(v.rule, v.run_id, v.user) for v in violations] == [("isolation", "run-b", USER)]


def test_an_event_of_another_users_run_without_a_user_id_breaks_isolation() -> None:
    ledger = Ledger()
    ledger.add(RunIds(thread_id="thread-b", user_id=OTHER, run_id="run-b"))
    stray = normalize(wire("agent_thinking", run_id="run-b", thread_id="thread-b", user_id=None))
    assert rules(check_foreign(USER, [stray], ledger)) == {"isolation"}


def test_late_events_of_the_users_own_earlier_run_are_fine() -> None:
    ledger = Ledger()
    ledger.add(IDS)
    assert check_foreign(USER, [normalize(wire("agent_completed"))], ledger) == []


def test_an_event_naming_no_run_of_the_user_breaks_ids() -> None:
    stray = normalize(wire("agent_thinking", run_id="run-9", thread_id="thread-9"))
    assert rules(check_foreign(USER, [stray], Ledger())) == {"ids"}


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ({"type": "heartbeat"}, set()),
        ({"type": "progress", "run_id": "run-1"}, set()),
        ({"type": "progress", "data": {"run_id": "run-1", "thread_id": "thread-1"}}, set()),
        ({"type": "progress", "run_id": "run-1", "thread_id": "thread-9"}, {"ids"}),
        ({"type": "progress", "run_id": "run-9"}, {"ids"}),
        ({"type": "progress", "run_id": "run-b", "user_id": OTHER}, {"isolation"}),
    ],
    ids=["no-run", "own-run", "own-run-data", "wrong-thread", "unknown-run", "other-user"],
)
def test_other_types_are_ignored_unless_they_name_a_run(
    message: dict[str, Any], found: set[str]
) -> None:
    demux = demux_with(IDS)
    for event_type in CLEAN:
        demux.route(normalize(wire(event_type)))
    demux.route(normalize(message))
    assert check(demux) == found


def test_malformed_frames_are_reported_as_schema() -> None:
    demux = demux_with()
    demux.malformed.append("frame is not JSON")
    assert check(demux) == {"schema"}


# --- the suite's target, from the environment ------------------------------------------------
