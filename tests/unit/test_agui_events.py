"""AG-UI events and requests: the contract's event set is ag-ui-protocol 1.0.0's, the engine's
shape check is the official models made strict, and the suite's RunAgentInput is one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ag_ui.core import EventType, RunAgentInput

from contract.agui.events import EVENT_TYPES
from contract.agui.requests import (
    TOKEN_PATTERN,
    RunInputError,
    make_request,
    read_run_input,
    run_input,
)
from tests.mission_critical.engine.agui_events import event_problems
from tests.unit.agui_streams import chunked, clean


def test_the_contracts_event_types_are_ag_ui_protocol_1_0s() -> None:
    assert tuple(kind.value for kind in EventType) == EVENT_TYPES
    assert not [kind for kind in EVENT_TYPES if kind.startswith("THINKING_")]


@pytest.mark.parametrize("events", [clean(), chunked()], ids=["events", "chunks"])
def test_every_event_of_the_clean_streams_has_its_models_shape(events: list[Any]) -> None:
    assert [
        (event["type"], event_problems(event)) for event in events if event_problems(event)
    ] == []


SHAPES = [
    ("camelCase", {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": "x"}, []),
    ("extra keys pass", {"type": "STEP_STARTED", "stepName": "s", "vendor": {"x": 1}}, []),
    ("empty delta passes", {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": ""}, []),
    (
        "snake_case key",
        {"type": "TEXT_MESSAGE_CONTENT", "message_id": "m", "delta": "x"},
        ["message_id: AG-UI spells it 'messageId'", "messageId: Field required"],
    ),
    (
        "snake_case optional key",
        {
            "type": "TOOL_CALL_START",
            "toolCallId": "c",
            "toolCallName": "t",
            "parent_message_id": "m",
        },
        ["parent_message_id: AG-UI spells it 'parentMessageId'"],
    ),
    (
        "timestamp as a string",
        {"type": "STEP_STARTED", "stepName": "s", "timestamp": "1"},
        ["timestamp: Input should be a valid integer"],
    ),
    (
        "timestamp as a float",
        {"type": "STEP_STARTED", "stepName": "s", "timestamp": 1.0},
        ["timestamp: Input should be a valid integer"],
    ),
    (
        "number for a string",
        {"type": "STEP_STARTED", "stepName": 1},
        ["stepName: Input should be a valid string"],
    ),
    (
        "unknown type",
        {"type": "THINKING_START"},
        ["type 'THINKING_START' is not an event type of ag-ui-protocol 1.0.0"],
    ),
    ("no type", {"stepName": "s"}, ["the event has no type"]),
    ("RUN_ERROR without message", {"type": "RUN_ERROR"}, ["message: Field required"]),
    (
        "unknown outcome",
        {"type": "RUN_FINISHED", "threadId": "t", "runId": "r", "outcome": {"type": "weird"}},
        [
            (
                "outcome: Input tag 'weird' found using 'type' does not match any of the expected "
                "tags: 'success', 'interrupt', 'cancelled'"
            )
        ],
    ),
    ("not an object", ["RUN_STARTED"], ["an event is a JSON object, not list"]),
]


@pytest.mark.parametrize(
    ("event", "problems"), [row[1:] for row in SHAPES], ids=[row[0] for row in SHAPES]
)
def test_the_shape_check_is_the_models_made_strict(event: Any, problems: list[str]) -> None:
    assert event_problems(event) == problems


# --- requests ---------------------------------------------------------------------------------


def test_the_suites_request_is_a_run_agent_input_of_fresh_tokens() -> None:
    request = make_request("u1")
    assert all(TOKEN_PATTERN.fullmatch(token) for token in request.tokens)
    assert len(set(request.tokens)) == 4
    assert make_request("u1").tokens != request.tokens
    body = run_input(request, "what is 2+2")
    model = RunAgentInput.model_validate(body, strict=True, by_alias=True, by_name=False)
    assert (model.thread_id, model.run_id) == (request.thread_id, request.run_id)
    assert request.canary in json.dumps(body)
    assert read_run_input(json.dumps(body).encode()).text == f"what is 2+2 (ref {request.canary})"


GOOD = {"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "user", "content": "hi"}]}
BAD_BODIES = [
    ("not JSON", b"this is not json", 400, "the body is not JSON"),
    ("NaN", b'{"threadId": NaN}', 400, "the body is not JSON"),
    ("not UTF-8", b'{"a": "\xff"}', 400, "not UTF-8"),
    ("an array", b"[1]", 400, "JSON list, not an object"),
    ("no runId", json.dumps({**GOOD, "runId": None}).encode(), 422, "needs runId"),
    ("runId a number", json.dumps({**GOOD, "runId": 7}).encode(), 422, "(got int)"),
    ("no messages", json.dumps({"threadId": "t", "runId": "r"}).encode(), 422, "needs messages"),
    ("message without role", json.dumps({**GOOD, "messages": [{}]}).encode(), 422, "string role"),
    ("tools not a list", json.dumps({**GOOD, "tools": {}}).encode(), 422, "tools must be a list"),
]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [row[1:] for row in BAD_BODIES],
    ids=[row[0] for row in BAD_BODIES],
)
def test_a_body_that_is_no_run_agent_input_gets_a_4xx_and_why(
    body: bytes, status: int, reason: str
) -> None:
    with pytest.raises(RunInputError) as caught:
        read_run_input(body)
    assert caught.value.status == status
    assert reason in caught.value.reason


def test_the_text_is_the_last_user_messages_in_any_of_its_forms() -> None:
    parts = [
        {"type": "text", "text": "a"},
        {"type": "image", "url": "x"},
        {"type": "text", "text": "b"},
    ]
    messages = [
        {"id": "1", "role": "user", "content": "old"},
        {"id": "2", "role": "assistant", "content": "x"},
        {"id": "3", "role": "user", "content": parts},
    ]
    assert read_run_input(json.dumps({**GOOD, "messages": messages}).encode()).text == "ab"
    assert read_run_input(json.dumps({**GOOD, "messages": []}).encode()).text == ""
