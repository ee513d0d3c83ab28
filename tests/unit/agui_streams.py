"""AG-UI streams as servers send them, for the contract's unit tests: a clean run that uses
every family of events, and small builders to break it one way at a time."""

from __future__ import annotations

import json
from typing import Any

from contract.agui.requests import RunRequest

Event = dict[str, Any]


def fixed_request(user: str, letter: str) -> RunRequest:
    """A request with tokens of one repeated hex digit, so a test can name them."""
    return RunRequest(
        user,
        f"mc-thread-{letter * 24}",
        f"mc-run-{letter * 24}",
        f"mc-msg-{letter * 24}",
        f"mc-canary-{letter * 24}",
    )


REQUEST, OTHER = fixed_request("user-a", "a"), fixed_request("user-b", "b")
ARGS = {"query": f"what is 2+2 (ref {REQUEST.canary})"}


def ev(kind: str, **fields: Any) -> Event:
    return {"type": kind, **fields}


def started(request: RunRequest = REQUEST) -> Event:
    return ev("RUN_STARTED", threadId=request.thread_id, runId=request.run_id)


def finished(request: RunRequest = REQUEST, **fields: Any) -> Event:
    return ev("RUN_FINISHED", threadId=request.thread_id, runId=request.run_id, **fields)


def text(message: str, *deltas: str) -> list[Event]:
    return [
        ev("TEXT_MESSAGE_START", messageId=message, role="assistant"),
        *(ev("TEXT_MESSAGE_CONTENT", messageId=message, delta=delta) for delta in deltas),
        ev("TEXT_MESSAGE_END", messageId=message),
    ]


def tool_call(call: str, arguments: str, parent: str = "m-parent", parts: int = 3) -> list[Event]:
    size = max(1, -(-len(arguments) // parts))
    pieces = [arguments[i : i + size] for i in range(0, len(arguments), size)]
    return [
        ev("TOOL_CALL_START", toolCallId=call, toolCallName="lookup", parentMessageId=parent),
        *(ev("TOOL_CALL_ARGS", toolCallId=call, delta=piece) for piece in pieces),
        ev("TOOL_CALL_END", toolCallId=call),
    ]


def snapshot(call: str, arguments: str) -> Event:
    """A MESSAGES_SNAPSHOT holding one assistant message with one tool call."""
    function = {"name": "lookup", "arguments": arguments}
    calls = [{"id": call, "type": "function", "function": function}]
    return ev("MESSAGES_SNAPSHOT", messages=[{"id": "a", "role": "assistant", "toolCalls": calls}])


def result(call: str, message: str = "m-result") -> Event:
    return ev("TOOL_CALL_RESULT", messageId=message, toolCallId=call, content="4", role="tool")


def body() -> list[Event]:
    """Everything of a clean run between RUN_STARTED and RUN_FINISHED."""
    return [
        ev("STEP_STARTED", stepName="plan"),
        ev("REASONING_START", messageId="r1"),
        ev("REASONING_MESSAGE_START", messageId="r1", role="reasoning"),
        ev("REASONING_MESSAGE_CONTENT", messageId="r1", delta="Look it up."),
        ev("REASONING_MESSAGE_END", messageId="r1"),
        ev("REASONING_END", messageId="r1"),
        ev("STEP_FINISHED", stepName="plan"),
        ev("SUBAGENT_STARTED", subagentRunId="sub-1", name="researcher"),
        *text("m-parent"),
        *tool_call("call-1", json.dumps(ARGS)),
        result("call-1"),
        ev("SUBAGENT_FINISHED", subagentRunId="sub-1"),
        ev("RAW", event={"kind": "checkpoint"}, source="test"),
        *text("m-answer", "It is ", "4.", f" You asked: ref {REQUEST.canary}"),
    ]


def clean(request: RunRequest = REQUEST) -> list[Event]:
    return [started(request), *body(), finished(request, outcome={"type": "success"})]


def chunked() -> list[Event]:
    """The clean run's messages and call spelled as chunks, as a server may."""
    arguments = json.dumps(ARGS)
    return [
        started(),
        ev("REASONING_MESSAGE_CHUNK", messageId="r1", delta="Look "),
        ev("REASONING_MESSAGE_CHUNK", delta="it up."),
        ev("TEXT_MESSAGE_CHUNK", messageId="m-parent"),
        ev("TOOL_CALL_CHUNK", toolCallId="call-1", toolCallName="lookup", delta=arguments[:5]),
        ev("RAW", event={"kind": "between chunks"}),
        ev("TOOL_CALL_CHUNK", delta=arguments[5:]),
        result("call-1"),
        ev("TEXT_MESSAGE_CHUNK", messageId="m-answer", delta="It is "),
        ev("TEXT_MESSAGE_CHUNK", delta="4."),
        finished(),
    ]


def no_schema_errors(_event: object) -> list[str]:
    return []
