"""The AG-UI events of one run, planned without I/O (as refservice.agent plans a WebSocket run).

A run is a tuple of `Frame`s: an event (a hand-spelled dict, camelCase as AG-UI spells it) and
the pause before it is sent. A clean run uses every family the rules pair: a step with a
reasoning block in it, a step with one tool call (an empty parent message first, as
pydantic-ai sends, its arguments in three fragments, then its result), and a streamed answer.
`to_chunks` spells the same run with TEXT_MESSAGE_CHUNK, TOOL_CALL_CHUNK and
REASONING_MESSAGE_CHUNK, as a backend may (`--shape chunks`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from refservice.agent import TOOL_NAME, make_pause, summarize_request

if TYPE_CHECKING:
    import random

    from contract.agui.requests import RunInput

Event = dict[str, Any]
AguiShape = Literal["flat", "chunks"]  # START/CONTENT/END events, or *_CHUNK events
AGUI_SHAPES: tuple[AguiShape, ...] = get_args(AguiShape)
ARG_FRAGMENTS = 3


@dataclass(frozen=True)
class Frame:
    """One event of a run and the pause (seconds) before it; `leak`: the `leak` fault's slot,
    filled when it is sent with another user's request, if one is in flight."""

    event: Event
    pause: float = 0.0
    leak: bool = False


def make_id(kind: str, rng: random.Random) -> str:
    return f"ref-{kind}-{rng.getrandbits(64):016x}"


def split_text(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def message(kind: str, message_id: str, deltas: list[str], **start: Any) -> list[Frame]:
    """START, a CONTENT per delta, END, of `kind` (TEXT_MESSAGE, REASONING_MESSAGE)."""
    return [
        Frame({"type": f"{kind}_START", "messageId": message_id, **start}),
        *(Frame({"type": f"{kind}_CONTENT", "messageId": message_id, "delta": d}) for d in deltas),
        Frame({"type": f"{kind}_END", "messageId": message_id}),
    ]


def plan_run(run: RunInput, delay: float, rng: random.Random) -> tuple[Frame, ...]:
    """The frames of one clean run answering `run`."""
    request = summarize_request(run.text)
    ids = {kind: make_id(kind, rng) for kind in ("rsn", "parent", "call", "result", "answer")}
    arguments = json.dumps({"query": request})
    results = {"documents": [f"A note about {request!r}"], "count": 1}
    ends = {"threadId": run.thread_id, "runId": run.run_id}
    tool = {"toolCallId": ids["call"]}
    return (
        Frame({"type": "RUN_STARTED", **ends}),
        Frame({"type": "STEP_STARTED", "stepName": "plan"}, make_pause(delay, rng)),
        Frame({"type": "REASONING_START", "messageId": ids["rsn"]}),
        *message(
            "REASONING_MESSAGE",
            ids["rsn"],
            [f"Working out how to answer: {request!r}"],
            role="reasoning",
        ),
        Frame({"type": "REASONING_END", "messageId": ids["rsn"]}),
        Frame({"type": "STEP_FINISHED", "stepName": "plan"}),
        Frame({"type": "STEP_STARTED", "stepName": "act"}, make_pause(delay, rng)),
        *message("TEXT_MESSAGE", ids["parent"], [], role="assistant"),
        Frame(
            {
                "type": "TOOL_CALL_START",
                **tool,
                "toolCallName": TOOL_NAME,
                "parentMessageId": ids["parent"],
            }
        ),
        *(
            Frame({"type": "TOOL_CALL_ARGS", **tool, "delta": part})
            for part in split_text(arguments, ARG_FRAGMENTS)
        ),
        Frame({"type": "TOOL_CALL_END", **tool}),
        Frame(
            {
                "type": "TOOL_CALL_RESULT",
                "messageId": ids["result"],
                **tool,
                "content": json.dumps(results),
                "role": "tool",
            },
            make_pause(delay, rng),
        ),
        Frame({"type": "STEP_FINISHED", "stepName": "act"}),
        *answer(ids["answer"], request, make_pause(delay, rng)),
        Frame({"type": "RUN_FINISHED", **ends, "outcome": {"type": "success"}}),
    )


def answer(message_id: str, request: str, pause: float) -> list[Frame]:
    frames = message(
        "TEXT_MESSAGE",
        message_id,
        ["Here is what I found about ", repr(request), "."],
        role="assistant",
    )
    return [dataclasses.replace(frames[0], pause=pause), *frames[1:]]


CHUNK_OF = {
    "TEXT_MESSAGE_START": "TEXT_MESSAGE_CHUNK",
    "TEXT_MESSAGE_CONTENT": "TEXT_MESSAGE_CHUNK",
    "TOOL_CALL_START": "TOOL_CALL_CHUNK",
    "TOOL_CALL_ARGS": "TOOL_CALL_CHUNK",
    "REASONING_MESSAGE_START": "REASONING_MESSAGE_CHUNK",
    "REASONING_MESSAGE_CONTENT": "REASONING_MESSAGE_CHUNK",
}
CHUNK_FIELDS = {  # what a stream's first chunk carries of its START
    "TEXT_MESSAGE_CHUNK": ("messageId", "role"),
    "TOOL_CALL_CHUNK": ("toolCallId", "toolCallName", "parentMessageId"),
    "REASONING_MESSAGE_CHUNK": ("messageId",),
}
ENDS = frozenset({"TEXT_MESSAGE_END", "TOOL_CALL_END", "REASONING_MESSAGE_END"})


def to_chunks(frames: tuple[Frame, ...]) -> tuple[Frame, ...]:
    """The run spelled with chunks: a START becomes its family's first chunk (its first delta
    folded in), each further CONTENT or ARGS a chunk with only its delta, and each END is left
    out: the next event closes the chunk stream, as the official client expands it."""
    out: list[Frame] = []
    for frame in frames:
        kind = frame.event["type"]
        chunk = CHUNK_OF.get(kind)
        if kind in ENDS:
            continue
        if chunk is None:
            out.append(frame)
        elif kind.endswith("_START"):
            first = {key: frame.event[key] for key in CHUNK_FIELDS[chunk] if key in frame.event}
            out.append(dataclasses.replace(frame, event={"type": chunk, **first}))
        elif out[-1].event["type"] == chunk and "delta" not in out[-1].event:
            out[-1] = dataclasses.replace(out[-1], event={**out[-1].event, **delta_of(frame)})
        else:
            out.append(dataclasses.replace(frame, event={"type": chunk, **delta_of(frame)}))
    return tuple(out)


def delta_of(frame: Frame) -> Event:
    return {"delta": frame.event["delta"]}
