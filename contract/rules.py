"""The wire contract (docs/protocol.md) as pure functions: no sockets, no clock, no files.

    server frame --parse_frame--> message --normalize--> flat dict
    flat dicts of one connection --routing.Demux.route--> per-run event lists
    per-run events --check_run--> [Violation]        (schema, order, pairing, ids, delivery)
    strays / named others --routing.check_foreign--> [Violation]   (isolation, ids)

A `Violation` renders as `[rule] run=<id> user=<id>: <expected, got>; seen=[types]`, which is
the first line of every failure the suite reports.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    SchemaCheck = Callable[[Mapping[str, Any]], Sequence[str]]
    """What an event breaks of its JSON Schema, one text per error (empty: it matches)."""

RuleId = Literal[
    "health",
    "auth",
    "greeting",
    "schema",
    "started-first",
    "thinking",
    "tool-pairing",
    "completed-last",
    "ids",
    "isolation",
    "delivery",
    "ping",
    "bad-input",
    "frame-size",
    "reconnect",
]
RULE_IDS: tuple[RuleId, ...] = get_args(RuleId)

EventType = Literal[
    "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
GREETING = "connection_established"
NO_RUN = "-"
MAX_EXAMPLES = 3  # offending events quoted per violation; the rest are counted
MAX_LINES = 25  # violations printed per failure; the rest are counted per rule

Message = dict[str, Any]


class FrameError(ValueError):
    """A server frame that is not one JSON object with a string `type`."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, for which run and user, what was expected, what the run saw."""

    rule: RuleId
    run_id: str
    user: str
    detail: str
    seen: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"run={self.run_id} user={self.user}"
        return f"[{self.rule}] {where}: {self.detail}; seen={list(self.seen)}"


def format_violations(violations: Sequence[Violation], limit: int = MAX_LINES) -> str:
    """One line per violation (at most `limit`, then a count per rule); the first line starts
    with the first broken rule's `[id]`."""
    lines = [str(violation) for violation in violations[:limit]]
    rest = Counter(violation.rule for violation in violations[limit:])
    if rest:
        counts = ", ".join(f"[{rule}] x{count}" for rule, count in sorted(rest.items()))
        lines.append(f"... and {sum(rest.values())} more violation(s): {counts}")
    return "\n".join(lines)


@dataclass(frozen=True)
class RunIds:
    """The ids every event of a run must carry; `run_id` None: learned from agent_started."""

    thread_id: str
    user_id: str
    run_id: str | None = None


def refuse_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json reads them, JSON (RFC 8259) has no such thing."""
    raise ValueError(f"{name} is not a JSON value")


def parse_frame(frame: str | bytes) -> Message:
    """The JSON object in a server frame; FrameError saying why it is not one."""
    if isinstance(frame, bytes):
        raise FrameError("binary frame (the contract sends text frames)")
    try:
        message = json.loads(frame, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise FrameError(f"frame is not JSON ({exc.__class__.__name__})") from None
    except ValueError as exc:  # a NaN or Infinity constant
        raise FrameError(f"frame is not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise FrameError(f"frame is JSON {type(message).__name__}, not an object")
    if not isinstance(message.get("type"), str):
        raise FrameError("frame has no string 'type'")
    return message


def normalize(message: Mapping[str, Any]) -> Message:
    """One flat dict from either shape: `data` merged in, the top level winning on a clash."""
    data = message.get("data")
    merged: Message = dict(data) if isinstance(data, dict) else {}
    for key, value in message.items():
        if key != "data" or not isinstance(value, dict):
            merged[key] = value
    return merged


def type_of(message: Mapping[str, Any]) -> str:
    value = message.get("type")
    return value if isinstance(value, str) else "<no type>"


def is_event(message: Mapping[str, Any]) -> bool:
    return message.get("type") in EVENT_TYPES


def string_field(message: Mapping[str, Any], key: str) -> str | None:
    value = message.get(key)
    return value if isinstance(value, str) else None


def check_greeting(message: Mapping[str, Any]) -> str | None:
    """Why `message` is not a valid greeting, or None when it is one."""
    if message.get("type") != GREETING:
        return f"expected the first message to be {GREETING}, got {type_of(message)}"
    connection_id = string_field(message, "connection_id")
    if not connection_id:
        return f"expected {GREETING} to carry a non-empty string connection_id"
    return None


def learned_run_id(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The run_id of the first agent_started, else of the first event naming one."""
    started = [string_field(e, "run_id") for e in events if e.get("type") == "agent_started"]
    named = [string_field(e, "run_id") for e in events]
    return next((rid for rid in [*started, *named] if rid), None)


def describe_examples(examples: Sequence[str]) -> str:
    shown = "; ".join(examples[:MAX_EXAMPLES])
    more = len(examples) - MAX_EXAMPLES
    return f"{shown} (+{more} more)" if more > 0 else shown


def id_mismatches(message: Mapping[str, Any], ids: RunIds, *, present_only: bool) -> list[str]:
    """`key=value` for every id of `message` that differs from `ids` (missing counts, unless
    `present_only`)."""
    wanted = {"run_id": ids.run_id, "thread_id": ids.thread_id, "user_id": ids.user_id}
    wrong = []
    for key, expected in wanted.items():
        if expected is None or (present_only and key not in message):
            continue
        if message.get(key) != expected:
            wrong.append(f"{key}={message.get(key)!r}")
    return wrong


def find_tool_orphans(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every tool_completed that closes no earlier open tool_executing, and every tool_executing
    still open at agent_completed (its tool_completed was lost), described."""
    open_calls: list[tuple[int, str | None, str | None]] = []
    orphans = []
    for index, event in enumerate(events):
        execution_id = string_field(event, "execution_id")
        tool_name = string_field(event, "tool_name")
        if event.get("type") == "agent_completed":
            orphans += [
                f"event #{at} tool_executing(tool_name={name!r}, execution_id={call!r}) "
                f"is still open at agent_completed"
                for at, call, name in open_calls
            ]
            open_calls.clear()
        if event.get("type") == "tool_executing":
            open_calls.append((index, execution_id, tool_name))
        elif event.get("type") == "tool_completed":
            if execution_id is not None:
                match = [call for call in open_calls if call[1] == execution_id]
            else:
                match = [call for call in open_calls if call[2] == tool_name]
            if match:
                open_calls.remove(match[0])
            else:
                orphans.append(
                    f"event #{index} tool_completed(tool_name={tool_name!r}, "
                    f"execution_id={execution_id!r}) closes no open tool_executing"
                )
    return orphans


def check_run(
    events: Sequence[Mapping[str, Any]],
    expected: RunIds,
    *,
    schema_errors: SchemaCheck,
    require: Collection[str] = (),
) -> list[Violation]:
    """Every rule one run's events (normalized, in arrival order) break.

    `require` names event types a full run must contain (missing -> `delivery`).
    """
    run_id = expected.run_id or learned_run_id(events) or f"<unknown, thread {expected.thread_id}>"
    ids = replace(expected, run_id=run_id)
    seen = tuple(type_of(event) for event in events)

    def broken(rule: RuleId, detail: str) -> Violation:
        return Violation(rule, run_id, expected.user_id, detail, seen)

    if not events:
        return [broken("delivery", "expected agent_started ... agent_completed; nothing arrived")]
    found: list[Violation] = []
    schema = [
        f"event #{i} {type_of(e)}: {errors[0]}"
        for i, e in enumerate(events)
        if (errors := schema_errors(e))
    ]
    if schema:
        found.append(
            broken(
                "schema", f"expected every event to match its schema; {describe_examples(schema)}"
            )
        )
    starts = seen.count("agent_started")
    if starts != 1:
        found.append(broken("started-first", f"expected agent_started exactly once, got {starts}"))
    elif seen[0] != "agent_started":
        found.append(broken("started-first", f"expected agent_started first, got {seen[0]} first"))
    if "agent_completed" not in seen:
        found.append(
            broken("delivery", "expected agent_completed within the wait bound; never came")
        )
    else:
        last = seen.index("agent_completed")
        if last != len(seen) - 1:
            after = list(seen[last + 1 :])
            found.append(
                broken("completed-last", f"expected nothing after agent_completed, got {after}")
            )
        if "agent_thinking" not in seen[:last]:
            found.append(
                broken("thinking", "expected at least one agent_thinking before agent_completed")
            )
    orphans = find_tool_orphans(events)
    if orphans:
        found.append(
            broken(
                "tool-pairing",
                f"expected every tool_completed to close an open tool_executing and none "
                f"open at agent_completed; {describe_examples(orphans)}",
            )
        )
    wrong_ids = [
        f"event #{i} {type_of(e)} has {', '.join(wrong)}"
        for i, e in enumerate(events)
        if (wrong := id_mismatches(e, ids, present_only=False))
    ]
    if wrong_ids:
        found.append(
            broken(
                "ids",
                f"expected run_id={run_id!r} thread_id={ids.thread_id!r} "
                f"user_id={ids.user_id!r} on every event; {describe_examples(wrong_ids)}",
            )
        )
    covered = {"agent_started", "agent_completed", "agent_thinking"}  # their rules say it
    missing = [t for t in require if t not in seen and t not in covered]
    if missing:
        found.append(broken("delivery", f"expected a full run to contain {missing}"))
    return found
