"""The `ag-ui` dialect's fault modes: each breaks exactly one AG-UI rule (docs/dialects/ag-ui.md)
and nothing else, so the suite can prove it says *no* to each with no third-party server.

The stream faults rewrite a run's planned frames (pure functions, `STREAM_FAULTS`); the others
are small predicates the app and its auth ask where the rule is kept. docs/refservice.md lists
them all with their rules (`BROKEN_RULE`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Literal, get_args

from refservice.agui.plan import Frame

if TYPE_CHECKING:
    from collections.abc import Callable

AguiFault = Literal[
    "no_auth",
    "accept_unsigned",
    "accept_no_exp",
    "refuse_in_stream",
    "crash_on_malformed",
    "run_without_run_id",
    "health_fail",
    "not_event_stream",
    "never_answer",
    "stall",
    "empty_stream",
    "reorder",
    "duplicate_started",
    "wrong_run_id",
    "no_terminal",
    "after_terminal",
    "finished_then_error",
    "run_error",
    "open_tool_call",
    "reused_tool_call_id",
    "orphan_tool_result",
    "dropped_args_fragment",
    "open_message",
    "open_reasoning",
    "unpaired_step",
    "orphan_subagent",
    "snake_case_keys",
    "unknown_event_type",
    "leak",
]
AGUI_FAULTS: tuple[AguiFault, ...] = get_args(AguiFault)

BROKEN_RULE: dict[AguiFault, str] = {
    "no_auth": "auth",
    "accept_unsigned": "auth",
    "accept_no_exp": "auth",
    "refuse_in_stream": "auth",
    "crash_on_malformed": "bad-input",
    "run_without_run_id": "bad-input",
    "health_fail": "health",
    "not_event_stream": "transport",
    "never_answer": "delivery",
    "stall": "delivery",
    "empty_stream": "run-started",
    "reorder": "run-started",
    "duplicate_started": "run-started",
    "wrong_run_id": "run-ids",
    "no_terminal": "run-terminal",
    "after_terminal": "run-terminal",
    "finished_then_error": "run-terminal",
    "run_error": "run-outcome",
    "open_tool_call": "tool-calls",
    "reused_tool_call_id": "tool-calls",
    "orphan_tool_result": "tool-calls",
    "dropped_args_fragment": "tool-args",
    "open_message": "text-messages",
    "open_reasoning": "reasoning",
    "unpaired_step": "steps",
    "orphan_subagent": "subagents",
    "snake_case_keys": "schema",
    "unknown_event_type": "schema",
    "leak": "isolation",
}

ORPHAN_CALL_ID = "ref-call-never-started"
ORPHAN_SUBAGENT = "ref-subagent-never-started"
RUN_ERROR_MESSAGE = "the reference agent failed (fault run_error)"
MADE_UP_RUN_ID = "ref-run-made-up"  # `run_without_run_id`: the run a body without one gets
EVENT_STREAM = "text/event-stream; charset=utf-8"
NOT_AN_EVENT_STREAM = "application/x-ndjson"  # `not_event_stream`: one JSON event per line

Frames = tuple[Frame, ...]


def parse_fault(name: str) -> AguiFault:
    """The fault called `name`; ValueError naming the valid ones otherwise."""
    for fault in AGUI_FAULTS:
        if fault == name:
            return fault
    raise ValueError(f"unknown ag-ui fault {name!r}; expected one of: {', '.join(AGUI_FAULTS)}")


def index_of(frames: Frames, kind: str, *, last: bool = False) -> int:
    found = [i for i, frame in enumerate(frames) if frame.event["type"] == kind]
    return found[-1] if last else found[0]


def without(kind: str, *, last: bool = False) -> Callable[[Frames], Frames]:
    def rewrite(frames: Frames) -> Frames:
        at = index_of(frames, kind, last=last)
        return frames[:at] + frames[at + 1 :]

    return rewrite


def before_finish(*extra: Frame) -> Callable[[Frames], Frames]:
    def rewrite(frames: Frames) -> Frames:
        at = index_of(frames, "RUN_FINISHED")
        return (*frames[:at], *extra, *frames[at:])

    return rewrite


def changed(
    kind: str, change: Callable[[dict[str, object]], dict[str, object]]
) -> Callable[[Frames], Frames]:
    """Every frame of type `kind` with its event changed."""

    def rewrite(frames: Frames) -> Frames:
        return tuple(
            dataclasses.replace(frame, event=change(dict(frame.event)))
            if frame.event["type"] == kind
            else frame
            for frame in frames
        )

    return rewrite


def reorder(frames: Frames) -> Frames:
    return (dataclasses.replace(frames[1], pause=0.0), frames[0], *frames[2:])


def duplicate_started(frames: Frames) -> Frames:
    return (frames[0], frames[0], *frames[1:])


def after_terminal(frames: Frames) -> Frames:
    late = "ref-late-message"
    return (
        *frames,
        Frame({"type": "TEXT_MESSAGE_START", "messageId": late, "role": "assistant"}),
        Frame({"type": "TEXT_MESSAGE_CONTENT", "messageId": late, "delta": "One more thing."}),
        Frame({"type": "TEXT_MESSAGE_END", "messageId": late}),
    )


def finished_then_error(frames: Frames) -> Frames:
    return (*frames, Frame({"type": "RUN_ERROR", "message": "an error after the run finished"}))


def run_error(frames: Frames) -> Frames:
    at = index_of(frames, "RUN_FINISHED")
    failed = {"type": "RUN_ERROR", "message": RUN_ERROR_MESSAGE, "code": "REFSERVICE_FAULT"}
    return (*frames[:at], dataclasses.replace(frames[at], event=failed))


def reused_tool_call_id(frames: Frames) -> Frames:
    """A second call after the first one's result, under the first one's id."""
    start = index_of(frames, "TOOL_CALL_START")
    result = index_of(frames, "TOOL_CALL_RESULT")
    call = frames[start].event["toolCallId"]
    again = (
        dataclasses.replace(frames[start], pause=0.0),
        Frame({"type": "TOOL_CALL_ARGS", "toolCallId": call, "delta": "{}"}),
        Frame({"type": "TOOL_CALL_END", "toolCallId": call}),
        Frame({**frames[result].event, "messageId": "ref-result-again"}),
    )
    return (*frames[: result + 1], *again, *frames[result + 1 :])


def leak(frames: Frames) -> Frames:
    """A slot in the answer, before its END, for another user's request (filled when sent)."""
    end = index_of(frames, "TEXT_MESSAGE_END", last=True)
    slot = Frame({"type": "TEXT_MESSAGE_CONTENT", **id_of(frames[end])}, leak=True)
    return (*frames[:end], slot, *frames[end:])


def id_of(frame: Frame) -> dict[str, object]:
    return {"messageId": frame.event["messageId"]}


def stall(frames: Frames) -> Frames:
    """Up to the tool call's END; the app then holds the stream open (`holds_open`)."""
    return frames[: index_of(frames, "TOOL_CALL_END") + 1]


def snake_case(event: dict[str, object]) -> dict[str, object]:
    event["message_id"] = event.pop("messageId")
    return event


def step_renamed(event: dict[str, object]) -> dict[str, object]:
    return (
        {**event, "stepName": f"{event['stepName']}-ing"} if event["stepName"] == "act" else event
    )


def wrong_run(event: dict[str, object]) -> dict[str, object]:
    return {**event, "runId": f"{event['runId']}-x"}


STREAM_FAULTS: dict[AguiFault, Callable[[Frames], Frames]] = {
    "never_answer": lambda _frames: (),
    "stall": stall,
    "empty_stream": lambda _frames: (),
    "reorder": reorder,
    "duplicate_started": duplicate_started,
    "wrong_run_id": changed("RUN_FINISHED", wrong_run),
    "no_terminal": without("RUN_FINISHED"),
    "after_terminal": after_terminal,
    "finished_then_error": finished_then_error,
    "run_error": run_error,
    "open_tool_call": without("TOOL_CALL_END"),
    "reused_tool_call_id": reused_tool_call_id,
    "orphan_tool_result": before_finish(
        Frame(
            {
                "type": "TOOL_CALL_RESULT",
                "messageId": "ref-orphan-result",
                "toolCallId": ORPHAN_CALL_ID,
                "content": "a result for no call",
                "role": "tool",
            }
        )
    ),
    "dropped_args_fragment": without("TOOL_CALL_ARGS"),
    "open_message": without("TEXT_MESSAGE_END", last=True),
    "open_reasoning": without("REASONING_END"),
    "unpaired_step": changed("STEP_FINISHED", step_renamed),
    "orphan_subagent": before_finish(
        Frame({"type": "SUBAGENT_FINISHED", "subagentRunId": ORPHAN_SUBAGENT})
    ),
    "snake_case_keys": changed("TEXT_MESSAGE_CONTENT", snake_case),
    "unknown_event_type": lambda frames: (
        frames[0],
        Frame({"type": "THINKING_START"}),
        *frames[1:],
    ),
    "leak": leak,
}


def rewrite_frames(fault: AguiFault | None, frames: Frames) -> Frames:
    """The frames a run really sends under `fault` (the plan itself when it is a clean run)."""
    rewrite = STREAM_FAULTS.get(fault) if fault is not None else None
    return frames if rewrite is None else rewrite(frames)


def holds_open(fault: AguiFault | None) -> bool:
    """`never_answer`, `stall`: after its frames the stream stays open, sending nothing."""
    return fault in {"never_answer", "stall"}


def content_type(fault: AguiFault | None) -> str:
    return NOT_AN_EVENT_STREAM if fault == "not_event_stream" else EVENT_STREAM


def encode_event(fault: AguiFault | None, text: str) -> bytes:
    """One event on the wire: an SSE `data:` frame (a JSON line under `not_event_stream`)."""
    return (f"{text}\n" if fault == "not_event_stream" else f"data: {text}\n\n").encode()


def health_status(fault: AguiFault | None) -> int:
    return 500 if fault == "health_fail" else 200


def crashes_on_malformed(fault: AguiFault | None) -> bool:
    return fault == "crash_on_malformed"


def patch_body(fault: AguiFault | None, body: bytes) -> bytes:
    """`run_without_run_id`: a JSON object without a runId is given one, so it gets a run."""
    if fault != "run_without_run_id":
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and not document.get("runId"):
        document["runId"] = MADE_UP_RUN_ID
        return json.dumps(document).encode()
    return body
