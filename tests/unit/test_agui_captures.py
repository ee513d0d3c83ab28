"""Streams captured from real AG-UI servers (agui_captures/README.md), judged by the gate's
rules and the engine's shape check: pydantic-ai's passes; ag-ui-langgraph 0.0.47's bug fails
`tool-args`, in both of its forms, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contract.agui.isolation import Tokens
from contract.agui.requests import RunRequest
from contract.agui.stream import check_gate_run, check_stream
from tests.mission_critical.engine.agui_events import event_problems

CAPTURES = Path(__file__).resolve().parent / "agui_captures"


def read_capture(name: str) -> tuple[list[dict[str, Any]], RunRequest]:
    lines = (CAPTURES / f"{name}.jsonl").read_text("utf-8").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    ids = events[0]  # the request is not captured: its ids are the ones RUN_STARTED echoed
    return events, RunRequest("capture", ids["threadId"], ids["runId"], "", "")


CASES = [
    ("pydantic-ai-2.68.0", set(), set()),
    ("ag-ui-langgraph-0.0.47-control", set(), set()),
    ("ag-ui-langgraph-0.0.47-first-fragment", {"tool-args"}, {"tool-args"}),
    ("ag-ui-langgraph-0.0.47-one-chunk", {"tool-args"}, {"tool-args"}),
    ("ag-ui-langgraph-0.0.47-no-checkpointer", set(), {"run-outcome"}),
]


@pytest.mark.parametrize(("name", "stream", "gate"), CASES, ids=[row[0] for row in CASES])
def test_a_captured_stream_breaks_exactly_its_rules(
    name: str, stream: set[str], gate: set[str]
) -> None:
    events, request = read_capture(name)
    found = check_stream(events, request, schema_errors=event_problems)
    assert {v.rule for v in found} == stream, [str(v) for v in found]
    run = check_gate_run(events, request, Tokens(), schema_errors=event_problems)
    assert {v.rule for v in run} == gate, [str(v) for v in run]


def test_the_langgraph_bug_is_named_with_the_arguments_it_lost() -> None:
    events, request = read_capture("ag-ui-langgraph-0.0.47-first-fragment")
    (violation,) = check_stream(events, request, schema_errors=event_problems)
    assert str(violation).startswith("[tool-args] run=")
    assert "call 'call_1' ended at event #5: its arguments \"" in violation.detail
    assert "are not JSON (Expecting value)" in violation.detail
    events, request = read_capture("ag-ui-langgraph-0.0.47-one-chunk")
    (violation,) = check_stream(events, request, schema_errors=event_problems)
    assert "MESSAGES_SNAPSHOT gives call 'call_1' other arguments than the stream did ({})" in (
        violation.detail
    )
