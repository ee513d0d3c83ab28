"""The AG-UI rules (contract/agui/): each kept by a clean stream, and broken one way at a time,
naming exactly its rule."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract.agui.events import summarize_types
from contract.agui.isolation import Tokens
from contract.agui.requests import make_request
from contract.agui.stream import check_gate_run, check_stream
from contract.agui.verdicts import AGUI_RULE_IDS
from contract.rules import Violation
from tests.unit.agui_streams import (
    ARGS,
    OTHER,
    REQUEST,
    Event,
    body,
    chunked,
    clean,
    ev,
    finished,
    no_schema_errors,
    result,
    snapshot,
    started,
    text,
    tool_call,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "dialects" / "ag-ui.md"
RESEARCH = Path(__file__).resolve().parent / "agui_captures"


def rules(violations: list[Violation]) -> set[str]:
    return {violation.rule for violation in violations}


def judge(events: list[Event], **kwargs: Any) -> set[str]:
    return rules(check_stream(events, REQUEST, schema_errors=no_schema_errors, **kwargs))


def insert(events: list[Event], before: str, *new: Event) -> list[Event]:
    """`new` inserted before the first event of type `before`."""
    at = next(i for i, event in enumerate(events) if event["type"] == before)
    return [*events[:at], *new, *events[at:]]


def drop(events: list[Event], kind: str, nth: int = 0) -> list[Event]:
    """`events` without the nth event of type `kind`."""
    seen = [i for i, event in enumerate(events) if event["type"] == kind]
    return [event for i, event in enumerate(events) if i != seen[nth]]


def swap_last(events: list[Event], new: Event) -> list[Event]:
    return [*events[:-1], new]


@dataclass(frozen=True)
class Case:
    name: str
    events: list[Event]
    broken: frozenset[str]
    closed: bool = True


def case(name: str, events: list[Event], *broken: str, closed: bool = True) -> Case:
    return Case(name, events, frozenset(broken), closed)


ARGUMENTS = json.dumps(ARGS)
STREAMS = [
    case("clean", clean()),
    case("clean-chunked", chunked()),
    case("clean-legacy-no-outcome", swap_last(clean(), finished())),
    case("clean-no-args-call", insert(clean(), "RUN_FINISHED", *tool_call("call-2", ""))),
    case("clean-run-error-first", [ev("RUN_ERROR", message="no model")]),
    case("clean-run-error-leaves-open", [started(), *text("m1")[:2], ev("RUN_ERROR", message="x")]),
    case(
        "clean-message-id-again-after-end",
        [started(), *text("m1", "a"), *text("m1", "b"), finished()],
    ),
    case(
        "clean-step-again",
        [
            started(),
            *[ev("STEP_STARTED", stepName="s"), ev("STEP_FINISHED", stepName="s")] * 2,
            finished(),
        ],
    ),
    case(
        "clean-interleaved-messages",
        [started(), *text("m1")[:1], *text("m2", "x"), *text("m1")[1:], finished()],
    ),
    # run-started
    case("empty", [], "run-started"),
    case("first-not-run-started", [*text("m1", "x"), started(), finished()], "run-started"),
    case("no-run-started", [*text("m1", "x"), finished()], "run-started"),
    case("two-run-started", [started(), started(), finished()], "run-started"),
    # run-ids
    case(
        "wrong-thread-started",
        [started(OTHER.__class__(**{**REQUEST.__dict__, "thread_id": "t-x"})), finished()],
        "run-ids",
    ),
    case(
        "wrong-run-finished",
        [started(), ev("RUN_FINISHED", threadId=REQUEST.thread_id, runId="r-x")],
        "run-ids",
    ),
    case("ids-missing-finished", [started(), ev("RUN_FINISHED")], "run-ids"),
    # run-terminal
    case("no-terminal", clean()[:-1], "run-terminal"),
    case("no-terminal-still-open", clean()[:-1], "delivery", closed=False),
    case("event-after-finished", [*clean(), *text("m9", "late")], "run-terminal"),
    case("finished-then-error", [*clean(), ev("RUN_ERROR", message="boom")], "run-terminal"),
    case("a-second-run", [*clean(), started(), finished()], "run-terminal"),
    # tool-calls
    case(
        "args-without-start",
        insert(clean(), "RUN_FINISHED", ev("TOOL_CALL_ARGS", toolCallId="c9", delta="{}")),
        "tool-calls",
    ),
    case(
        "end-without-start",
        insert(clean(), "RUN_FINISHED", ev("TOOL_CALL_END", toolCallId="c9")),
        "tool-calls",
    ),
    case(
        "call-open-at-finish",
        insert(clean(), "RUN_FINISHED", *tool_call("c9", "{}")[:2]),
        "tool-calls",
    ),
    case(
        "call-id-again", insert(clean(), "RUN_FINISHED", *tool_call("call-1", "{}")), "tool-calls"
    ),
    case(
        "call-started-twice-open",
        [started(), *tool_call("c1", "{}")[:1], *tool_call("c1", "{}"), finished()],
        "tool-calls",
    ),
    case("result-unknown-call", insert(clean(), "RUN_FINISHED", result("c9")), "tool-calls"),
    case(
        "result-before-end",
        [
            started(),
            *tool_call("c1", "{}", parts=1)[:2],
            result("c1"),
            tool_call("c1", "{}")[-1],
            finished(),
        ],
        "tool-calls",
    ),
    # tool-args
    case("args-first-fragment-dropped", drop(clean(), "TOOL_CALL_ARGS"), "tool-args"),
    case("args-nan", insert(clean(), "RUN_FINISHED", *tool_call("c9", '{"x": NaN}')), "tool-args"),
    case(
        "args-against-snapshot",
        insert(clean(), "RUN_FINISHED", *tool_call("c9", ""), snapshot("c9", ARGUMENTS)),
        "tool-args",
    ),
    case(
        "clean-snapshot-agrees",
        insert(clean(), "RUN_FINISHED", snapshot("call-1", json.dumps(ARGS, indent=2))),
    ),
    # text-messages
    case(
        "content-without-start",
        insert(clean(), "RUN_FINISHED", ev("TEXT_MESSAGE_CONTENT", messageId="m9", delta="x")),
        "text-messages",
    ),
    case(
        "text-end-without-start",
        insert(clean(), "RUN_FINISHED", ev("TEXT_MESSAGE_END", messageId="m9")),
        "text-messages",
    ),
    case("message-open-at-finish", drop(clean(), "TEXT_MESSAGE_END", 1), "text-messages"),
    case(
        "message-started-while-open",
        [started(), *text("m1")[:1], *text("m1"), finished()],
        "text-messages",
    ),
    case(
        "text-chunk-without-id",
        insert(clean(), "RUN_FINISHED", ev("TEXT_MESSAGE_CHUNK", delta="x")),
        "text-messages",
    ),
    # reasoning
    case("reasoning-open-at-finish", drop(clean(), "REASONING_END"), "reasoning"),
    case("reasoning-message-open", drop(clean(), "REASONING_MESSAGE_END"), "reasoning"),
    case(
        "reasoning-content-without-start",
        insert(clean(), "RUN_FINISHED", ev("REASONING_MESSAGE_CONTENT", messageId="r9", delta="x")),
        "reasoning",
    ),
    case(
        "reasoning-chunk-without-id",
        insert(clean(), "RUN_FINISHED", ev("REASONING_MESSAGE_CHUNK", delta="x")),
        "reasoning",
    ),
    # steps
    case(
        "step-finished-unmatched",
        insert(clean(), "RUN_FINISHED", ev("STEP_FINISHED", stepName="act")),
        "steps",
    ),
    case("step-open-at-finish", drop(clean(), "STEP_FINISHED"), "steps"),
    case(
        "step-started-while-open",
        [
            started(),
            ev("STEP_STARTED", stepName="s"),
            ev("STEP_STARTED", stepName="s"),
            ev("STEP_FINISHED", stepName="s"),
            finished(),
        ],
        "steps",
    ),
    # subagents
    case(
        "subagent-finished-unmatched",
        insert(clean(), "RUN_FINISHED", ev("SUBAGENT_FINISHED", subagentRunId="s9")),
        "subagents",
    ),
    case(
        "subagent-error-unmatched",
        insert(clean(), "RUN_FINISHED", ev("SUBAGENT_ERROR", subagentRunId="s9", message="x")),
        "subagents",
    ),
    case("subagent-open-at-finish", drop(clean(), "SUBAGENT_FINISHED"), "subagents"),
    # chunks
    case(
        "tool-chunk-without-name",
        insert(clean(), "RUN_FINISHED", ev("TOOL_CALL_CHUNK", toolCallId="c9", delta="{}")),
        "tool-calls",
    ),
    case(
        "tool-chunk-restarted",
        [
            started(),
            ev("TOOL_CALL_CHUNK", toolCallId="c1", toolCallName="t", delta="{}"),
            ev("STEP_STARTED", stepName="s"),
            ev("TOOL_CALL_CHUNK", toolCallId="c1", toolCallName="t"),
            ev("STEP_FINISHED", stepName="s"),
            finished(),
        ],
        "tool-calls",
    ),
    case(
        "chunk-args-not-json",
        [
            started(),
            ev("TOOL_CALL_CHUNK", toolCallId="c1", toolCallName="t", delta='{"a"'),
            ev("TOOL_CALL_CHUNK", delta=": }"),
            finished(),
        ],
        "tool-args",
    ),
]


@pytest.mark.parametrize("row", STREAMS, ids=[row.name for row in STREAMS])
def test_each_stream_breaks_exactly_its_rules(row: Case) -> None:
    assert judge(row.events, closed=row.closed) == row.broken


def test_a_violation_names_the_rule_the_run_and_the_user_first_and_marks_the_event() -> None:
    events = drop(clean(), "TOOL_CALL_ARGS")
    (violation,) = check_stream(events, REQUEST, schema_errors=no_schema_errors)
    line = str(violation)
    assert line.startswith(f"[tool-args] run={REQUEST.run_id} user=user-a: expected each call's")
    assert "its arguments " in line
    assert "are not JSON (Expecting value)" in line
    end = next(i for i, e in enumerate(events) if e["type"] == "TOOL_CALL_END")
    assert violation.marks == (end,)
    assert "TOOL_CALL_ARGS x2" in violation.seen


def test_run_ids_names_the_requested_ids() -> None:
    (violation,) = check_stream(
        [started(OTHER), finished()], REQUEST, schema_errors=no_schema_errors
    )
    assert f"expected RUN_STARTED and RUN_FINISHED to carry threadId={REQUEST.thread_id!r}" in str(
        violation
    )
    assert f"runId={OTHER.run_id!r}" in violation.detail


def test_the_shape_is_judged_by_the_check_it_is_given() -> None:
    def no_deltas(event: Any) -> list[str]:
        return ["delta: not allowed here"] if "delta" in event else []

    found = check_stream(clean(), REQUEST, schema_errors=no_deltas)
    assert rules(found) == {"schema"}
    assert "event #4 REASONING_MESSAGE_CONTENT: delta: not allowed here" in found[0].detail


# --- the gate's own runs: outcome and isolation ---------------------------------------------


def gate(events: list[Event], *others: Any) -> set[str]:
    tokens = Tokens([REQUEST, *others])
    return rules(check_gate_run(events, REQUEST, tokens, schema_errors=no_schema_errors))


GATE_RUNS = [
    case("clean", clean()),
    case(
        "run-error",
        [started(), *body()[:3], ev("RUN_ERROR", message="model exploded", code="E1")],
        "run-outcome",
    ),
    case("run-error-first", [ev("RUN_ERROR", message="No checkpointer set")], "run-outcome"),
    case(
        "interrupt",
        swap_last(clean(), finished(outcome={"type": "interrupt", "interrupts": [{"id": "i"}]})),
        "run-outcome",
    ),
    case("no-terminal-is-not-an-outcome", clean()[:-1], "run-terminal"),
    case(
        "other-canary",
        insert(clean(), "RUN_FINISHED", *text("m9", f"ref {OTHER.canary}")),
        "isolation",
    ),
    case(
        "other-thread-as-a-key",
        insert(clean(), "RUN_FINISHED", ev("STATE_SNAPSHOT", snapshot={OTHER.thread_id: {}})),
        "isolation",
    ),
    case("other-run-started", [started(OTHER), *body(), finished()], "run-ids", "isolation"),
    case(
        "other-message-in-history",
        insert(
            clean(),
            "RUN_FINISHED",
            ev(
                "MESSAGES_SNAPSHOT",
                messages=[{"id": OTHER.message_id, "role": "user", "content": "hi"}],
            ),
        ),
        "isolation",
    ),
]


@pytest.mark.parametrize("row", GATE_RUNS, ids=[row.name for row in GATE_RUNS])
def test_each_gate_run_breaks_exactly_its_rules(row: Case) -> None:
    assert gate(row.events, OTHER) == row.broken


def test_a_run_error_is_named_with_its_message() -> None:
    events = [started(), ev("RUN_ERROR", message="No checkpointer set")]
    (violation,) = check_gate_run(
        events, REQUEST, Tokens([REQUEST]), schema_errors=no_schema_errors
    )
    assert "event #1 RUN_ERROR ended the run: 'No checkpointer set'" in violation.detail


def test_a_leak_names_whose_token_it_is() -> None:
    events = insert(clean(), "RUN_FINISHED", *text("m9", f"ref {OTHER.canary}"))
    (violation,) = check_gate_run(
        events, REQUEST, Tokens([REQUEST, OTHER]), schema_errors=no_schema_errors
    )
    assert (
        f"holds the canary {OTHER.canary} of user 'user-b' (run {OTHER.run_id})" in violation.detail
    )


def test_ids_the_backend_makes_may_repeat_across_streams() -> None:
    """pydantic-ai's TestModel names every run's tool call `pyd_ai_tool_call_id__lookup`."""
    first, second = make_request("u1"), make_request("u2")
    tokens = Tokens([first, second])
    for request in (first, second):
        events = [
            started(request),
            *tool_call("pyd_ai_tool_call_id__lookup", "{}"),
            *text("m1", "x"),
            finished(request),
        ]
        assert check_gate_run(events, request, tokens, schema_errors=no_schema_errors) == []


def test_tokens_refuse_an_id_isolation_could_not_find() -> None:
    with pytest.raises(ValueError, match="is not a token isolation can find"):
        Tokens([REQUEST.__class__(**{**REQUEST.__dict__, "canary": "plain"})])


# --- the names and the summary ---------------------------------------------------------------


def test_rule_ids_are_exactly_the_dialect_pages_table() -> None:
    table = re.findall(r"^\| `([a-z-]+)` \|", DOC.read_text("utf-8"), flags=re.MULTILINE)
    assert tuple(table) == AGUI_RULE_IDS


def test_seen_shows_a_run_of_one_type_once_with_its_count() -> None:
    events = [started(), *text("m1", *"abcd"), finished()]
    assert summarize_types(events) == (
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT x4",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    )
    long = [ev(f"T{i}") for i in range(50)]
    assert summarize_types(long)[-1] == "... (+10 more)"
