"""Tool calls (rules `tool-calls`, `tool-args`).

`tool-calls`: TOOL_CALL_START, ARGS, END by toolCallId; an id starts once a run (the official
client's reducer merges a restarted id into the first call, so its arguments would run on);
every call ended before RUN_FINISHED; a TOOL_CALL_RESULT names a call that started and ended.

`tool-args`: a call's ARGS deltas, concatenated, are JSON (none at all: a call without
arguments); and where a later MESSAGES_SNAPSHOT lists the call, its arguments are the same
JSON value. The snapshot is what ag-ui-langgraph 0.0.47 gets right when its stream loses the
first fragment, or every fragment, of a call's arguments (ag-ui-protocol/ag-ui#2653, #2463).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from contract.agui.events import text_field
from contract.agui.pairing import Spans
from contract.rules import refuse_constant

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contract.agui.events import Placed
    from contract.agui.verdicts import Findings

SHOWN_ARGS = 60  # characters of a call's arguments a finding quotes
NOT_JSON = object()


def parse_args(text: str) -> Any:
    """The JSON value of a call's arguments ("" is none: `{}`), or NOT_JSON."""
    if not text:
        return {}
    try:
        return json.loads(text, parse_constant=refuse_constant)
    except ValueError:
        return NOT_JSON


def why_not_json(text: str) -> str:
    try:
        json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        return exc.msg
    except ValueError as exc:
        return str(exc)
    return "JSON"  # pragma: no cover - only called for text that is not


def snapshot_calls(event: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(toolCallId, arguments) of every tool call the MESSAGES_SNAPSHOT's messages list."""
    found = []
    messages = event.get("messages")
    for message in messages if isinstance(messages, list) else []:
        calls = message.get("toolCalls") if isinstance(message, dict) else None
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(call.get("id"), str):
                found.append((call["id"], function.get("arguments")))
    return found


def check_tools(events: Sequence[Placed], findings: Findings) -> None:
    calls = Spans("tool-calls", "tool call", "toolCallId", findings, once=True)
    args: dict[str, list[str]] = {}
    ended: dict[str, Any] = {}  # id -> its arguments' JSON value (NOT_JSON: already a finding)
    for item in events:
        kind, call = item.type, text_field(item.event, "toolCallId")
        if kind == "TOOL_CALL_START":
            calls.start(item)
            if call is not None:
                args[call] = []
        elif kind == "TOOL_CALL_ARGS" and calls.touch(item) and call is not None:
            delta = item.event.get("delta")
            args[call].append(delta if isinstance(delta, str) else "")
        elif kind == "TOOL_CALL_END" and call is not None and call in calls.open:
            calls.end(item)
            ended[call] = judge_args(item, call, "".join(args.pop(call, [])), findings)
        elif kind == "TOOL_CALL_END":
            calls.end(item)
        elif kind == "TOOL_CALL_RESULT" and call is not None:
            if call in calls.open:
                text = f"{calls.describe(item)} comes before its call's TOOL_CALL_END"
                findings.add("tool-calls", item.at, text)
            elif call not in calls.started:
                findings.add("tool-calls", item.at, f"{calls.describe(item)} names no call")
        elif kind == "MESSAGES_SNAPSHOT":
            compare_snapshot(item, ended, findings)
        elif kind == "RUN_FINISHED":
            calls.finish(item)


def judge_args(item: Placed, call: str, text: str, findings: Findings) -> Any:
    value = parse_args(text)
    if value is NOT_JSON:
        shown = json.dumps(text[:SHOWN_ARGS]) + ("..." if len(text) > SHOWN_ARGS else "")
        detail = f"call {call!r} ended at event #{item.at}: its arguments {shown} are not JSON"
        findings.add("tool-args", item.at, f"{detail} ({why_not_json(text)})")
    return value


def compare_snapshot(item: Placed, ended: Mapping[str, Any], findings: Findings) -> None:
    """Each ended call the snapshot lists must have the arguments the stream gave it (in one of
    the snapshot's entries for its id: a thread's history may hold an older call of that id)."""
    listed: dict[str, list[Any]] = {}
    for call, arguments in snapshot_calls(item.event):
        listed.setdefault(call, []).append(
            parse_args(arguments) if isinstance(arguments, str) else NOT_JSON
        )
    for call, values in listed.items():
        streamed = ended.get(call, NOT_JSON)
        if streamed is NOT_JSON or streamed in values:
            continue
        shown = json.dumps(streamed)[:SHOWN_ARGS]
        detail = f"event #{item.at} MESSAGES_SNAPSHOT gives call {call!r} other arguments"
        findings.add("tool-args", item.at, f"{detail} than the stream did ({shown})")
