"""The reference backend's `ag-ui` parts without sockets: a planned run keeps every AG-UI rule in
both shapes, and each stream fault breaks exactly its rule, as the gate's rules judge it."""

from __future__ import annotations

import re
from pathlib import Path
from random import Random
from typing import Any

import pytest

from contract.agui.chunks import expand_chunks
from contract.agui.events import place
from contract.agui.isolation import Tokens
from contract.agui.requests import RunInput, user_text
from contract.agui.stream import check_gate_run
from contract.agui.verdicts import AGUI_RULE_IDS
from refservice.agui.faults import (
    AGUI_FAULTS,
    BROKEN_RULE,
    STREAM_FAULTS,
    parse_fault,
    patch_body,
    rewrite_frames,
)
from refservice.agui.plan import Frame, plan_run, to_chunks
from tests.mission_critical.engine.agui_events import event_problems
from tests.unit.agui_streams import OTHER, REQUEST

REFSERVICE_DOC = Path(__file__).resolve().parents[2] / "docs" / "refservice.md"
RUN = RunInput(REQUEST.thread_id, REQUEST.run_id, user_text(REQUEST, "what is 2+2"))
HOLDING = {"never_answer", "stall"}  # the stream stays open: the suite's bound ends it


def sent(frames: tuple[Frame, ...]) -> list[dict[str, Any]]:
    """The events as the app sends them (a leak slot filled with the other user's request)."""
    leaked = f" (also asked: {user_text(OTHER, 'hello')})"
    events = [{**f.event, "delta": leaked} if f.leak else dict(f.event) for f in frames]
    return [{**event, "timestamp": 1_796_000_000_000} for event in events]


def judge(frames: tuple[Frame, ...], *, closed: bool = True) -> set[str]:
    tokens = Tokens([REQUEST, OTHER])
    found = check_gate_run(
        sent(frames), REQUEST, tokens, schema_errors=event_problems, closed=closed
    )
    return {violation.rule for violation in found}


def planned() -> tuple[Frame, ...]:
    return plan_run(RUN, 0.0, Random(7))


@pytest.mark.parametrize("shape", ["flat", "chunks"])
def test_a_clean_run_keeps_every_rule(shape: str) -> None:
    frames = planned() if shape == "flat" else to_chunks(planned())
    assert judge(frames) == set()


def test_the_chunked_run_expands_to_the_flat_one() -> None:
    def key(event: Any) -> tuple[object, ...]:
        return tuple(event.get(k) for k in ("type", "messageId", "toolCallId", "delta"))

    flat = [key(f.event) for f in planned()]
    chunked = expand_chunks(place([f.event for f in to_chunks(planned())])).events
    assert [key(item.event) for item in chunked] == flat
    assert any(f.event["type"] == "TOOL_CALL_CHUNK" for f in to_chunks(planned()))


def test_a_clean_run_uses_every_family_the_rules_pair() -> None:
    types = {frame.event["type"] for frame in planned()}
    assert {"STEP_STARTED", "REASONING_START", "REASONING_MESSAGE_CONTENT"} <= types
    assert {"TOOL_CALL_ARGS", "TOOL_CALL_RESULT", "TEXT_MESSAGE_CONTENT"} <= types
    args = [f.event["delta"] for f in planned() if f.event["type"] == "TOOL_CALL_ARGS"]
    assert len(args) == 3
    assert REQUEST.canary in "".join(args)


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
def test_each_stream_fault_breaks_exactly_its_rule(fault: str) -> None:
    frames = rewrite_frames(parse_fault(fault), planned())
    assert judge(frames, closed=fault not in HOLDING) == {BROKEN_RULE[parse_fault(fault)]}


def test_a_clean_run_is_not_rewritten_and_every_fault_parses() -> None:
    assert rewrite_frames(None, planned()) == planned()
    assert [parse_fault(name) for name in AGUI_FAULTS] == list(AGUI_FAULTS)
    with pytest.raises(ValueError, match="unknown ag-ui fault"):
        parse_fault("gremlins")


def test_every_rule_has_a_fault_but_the_gates_own_conditions() -> None:
    assert set(BROKEN_RULE) == set(AGUI_FAULTS)
    assert set(BROKEN_RULE.values()) == set(AGUI_RULE_IDS) - {"reachable", "latency"}


def test_the_refservice_page_lists_every_ag_ui_fault_with_its_rule() -> None:
    text = REFSERVICE_DOC.read_text("utf-8")
    section = text[text.index("### The ag-ui dialect's faults") :]
    rows = re.findall(r"^\| `([a-z_]+)` \| .+ \| `([a-z-]+)` \|$", section, re.MULTILINE)
    assert dict(rows) == BROKEN_RULE


def test_a_body_without_a_run_id_is_given_one_only_under_its_fault() -> None:
    body = b'{"threadId": "t", "messages": []}'
    assert patch_body(None, body) == body
    assert b'"runId": "ref-run-made-up"' in patch_body(parse_fault("run_without_run_id"), body)
    assert patch_body(parse_fault("run_without_run_id"), b"not json") == b"not json"
