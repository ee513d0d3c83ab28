"""`*_CHUNK` expansion (contract/agui/chunks.py) event for event as the official client's
transformChunks (@ag-ui/client, src/chunks/transform.ts) gives it."""

from __future__ import annotations

from typing import Any

import pytest

from contract.agui.chunks import expand_chunks
from contract.agui.events import place
from tests.unit.agui_streams import Event, ev


def expanded(events: list[Event]) -> list[tuple[int, dict[str, Any]]]:
    return [(item.at, dict(item.event)) for item in expand_chunks(place(events)).events]


EXPANSIONS = [
    (
        "a text message, continued without an id, closed by the next message and by RUN_FINISHED",
        [
            ev("TEXT_MESSAGE_CHUNK", messageId="m1", delta="a"),
            ev("TEXT_MESSAGE_CHUNK", delta="b"),
            ev("TEXT_MESSAGE_CHUNK", messageId="m2", role="user", name="n", delta="c"),
            ev("RUN_FINISHED"),
        ],
        [
            (0, ev("TEXT_MESSAGE_START", messageId="m1", role="assistant")),
            (0, ev("TEXT_MESSAGE_CONTENT", messageId="m1", delta="a")),
            (1, ev("TEXT_MESSAGE_CONTENT", messageId="m1", delta="b")),
            (2, ev("TEXT_MESSAGE_END", messageId="m1")),
            (2, ev("TEXT_MESSAGE_START", messageId="m2", role="user", name="n")),
            (2, ev("TEXT_MESSAGE_CONTENT", messageId="m2", delta="c")),
            (3, ev("TEXT_MESSAGE_END", messageId="m2")),
            (3, ev("RUN_FINISHED")),
        ],
    ),
    (
        "a tool call: its first chunk starts it with name and parent; RAW does not close it",
        [
            ev(
                "TOOL_CALL_CHUNK", toolCallId="c1", toolCallName="t", parentMessageId="m", delta="{"
            ),
            ev("RAW", event={}),
            ev("TOOL_CALL_CHUNK", toolCallId="c1", delta="}"),
            ev("TOOL_CALL_RESULT", messageId="r", toolCallId="c1", content="x"),
        ],
        [
            (0, ev("TOOL_CALL_START", toolCallId="c1", toolCallName="t", parentMessageId="m")),
            (0, ev("TOOL_CALL_ARGS", toolCallId="c1", delta="{")),
            (1, ev("RAW", event={})),
            (2, ev("TOOL_CALL_ARGS", toolCallId="c1", delta="}")),
            (3, ev("TOOL_CALL_END", toolCallId="c1")),
            (3, ev("TOOL_CALL_RESULT", messageId="r", toolCallId="c1", content="x")),
        ],
    ),
    (
        "a chunk of another family closes the open stream; an empty delta is content",
        [
            ev("REASONING_MESSAGE_CHUNK", messageId="r1", delta=""),
            ev("TEXT_MESSAGE_CHUNK", messageId="m1"),
        ],
        [
            (0, ev("REASONING_MESSAGE_START", messageId="r1")),
            (0, ev("REASONING_MESSAGE_CONTENT", messageId="r1", delta="")),
            (1, ev("REASONING_MESSAGE_END", messageId="r1")),
            (1, ev("TEXT_MESSAGE_START", messageId="m1", role="assistant")),
        ],
    ),
    (
        "a metadata-only chunk becomes an empty content carrying it; the END carries none",
        [
            ev("TEXT_MESSAGE_CHUNK", messageId="m1", delta="a", metadata={"k": 1}),
            ev("TEXT_MESSAGE_CHUNK", metadata={"usage": 2}),
            ev("STEP_STARTED", stepName="s"),
        ],
        [
            (0, ev("TEXT_MESSAGE_START", messageId="m1", role="assistant", metadata={"k": 1})),
            (0, ev("TEXT_MESSAGE_CONTENT", messageId="m1", delta="a", metadata={"k": 1})),
            (1, ev("TEXT_MESSAGE_CONTENT", messageId="m1", delta="", metadata={"usage": 2})),
            (2, ev("TEXT_MESSAGE_END", messageId="m1")),
            (2, ev("STEP_STARTED", stepName="s")),
        ],
    ),
    (
        "an empty-string id switches a text stream, but not a reasoning one (`&&` in the code)",
        [
            ev("TEXT_MESSAGE_CHUNK", messageId="m1"),
            ev("TEXT_MESSAGE_CHUNK", messageId=""),
            ev("REASONING_MESSAGE_CHUNK", messageId="r1"),
            ev("REASONING_MESSAGE_CHUNK", messageId="", delta="x"),
        ],
        [
            (0, ev("TEXT_MESSAGE_START", messageId="m1", role="assistant")),
            (1, ev("TEXT_MESSAGE_END", messageId="m1")),
            (1, ev("TEXT_MESSAGE_START", messageId="", role="assistant")),
            (2, ev("TEXT_MESSAGE_END", messageId="")),
            (2, ev("REASONING_MESSAGE_START", messageId="r1")),
            (3, ev("REASONING_MESSAGE_CONTENT", messageId="r1", delta="x")),
        ],
    ),
    (
        "nothing is made up at the end of the stream (finalize discards it); SUBAGENT_* pass",
        [
            ev("TEXT_MESSAGE_CHUNK", messageId="m1", delta="a"),
            ev("SUBAGENT_STARTED", subagentRunId="s1", name="x"),
            ev("TEXT_MESSAGE_CHUNK", delta="b"),
        ],
        [
            (0, ev("TEXT_MESSAGE_START", messageId="m1", role="assistant")),
            (0, ev("TEXT_MESSAGE_CONTENT", messageId="m1", delta="a")),
            (1, ev("SUBAGENT_STARTED", subagentRunId="s1", name="x")),
            (2, ev("TEXT_MESSAGE_CONTENT", messageId="m1", delta="b")),
        ],
    ),
]


@pytest.mark.parametrize(
    ("events", "wanted"),
    [(events, wanted) for _, events, wanted in EXPANSIONS],
    ids=[name for name, _, _ in EXPANSIONS],
)
def test_chunks_expand_as_the_official_client_expands_them(
    events: list[Event], wanted: list[tuple[int, Event]]
) -> None:
    assert expanded(events) == wanted


PROBLEMS = [
    ("text without messageId", ev("TEXT_MESSAGE_CHUNK", delta="a"), "text-messages", "messageId"),
    (
        "tool without toolCallId",
        ev("TOOL_CALL_CHUNK", toolCallName="t"),
        "tool-calls",
        "toolCallId",
    ),
    ("tool without name", ev("TOOL_CALL_CHUNK", toolCallId="c"), "tool-calls", "toolCallName"),
    ("reasoning without messageId", ev("REASONING_MESSAGE_CHUNK"), "reasoning", "messageId"),
]


@pytest.mark.parametrize(
    ("chunk", "rule", "field"),
    [row[1:] for row in PROBLEMS],
    ids=[row[0] for row in PROBLEMS],
)
def test_a_first_chunk_the_client_throws_on_is_its_familys_problem(
    chunk: Event, rule: str, field: str
) -> None:
    expansion = expand_chunks(place([ev("STEP_STARTED", stepName="s"), chunk]))
    assert [event.type for event in expansion.events] == ["STEP_STARTED"]
    assert expansion.problems == [
        (
            rule,
            1,
            f"event #1 {chunk['type']} starts a stream without {field} (the client stops here)",
        )
    ]
