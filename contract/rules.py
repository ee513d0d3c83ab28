"""The wire contract (docs/protocol.md) as pure functions: no sockets, no clock, no files.

    server frame --parse_frame--> message --normalize(containers of the dialect)--> flat dict
    flat dicts of one connection --routing.Demux.route--> per-run event lists
    per-run events --check_run--> [Violation]        (schema, order, pairing, ids, delivery)
    strays / named others --routing.check_foreign--> [Violation]   (isolation, ids)

A `Violation` renders as `[rule] run=<id> user=<id>: <expected, got>; seen=[types]`, which is
the first line of every failure the suite reports.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from contract.visible import show

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from contract.agui.verdicts import AguiRuleId

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
    "reachable",
    "latency",
]
RULE_IDS: tuple[RuleId, ...] = get_args(RuleId)

EventType = Literal[
    "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
Metric = Literal["agent_started", "agent_thinking", "agent_completed"]
METRICS: tuple[Metric, ...] = get_args(Metric)  # latency: a run's request to its first of each
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

    rule: RuleId | AguiRuleId  # AguiRuleId: the sse transport's (contract.agui)
    run_id: str
    user: str
    detail: str
    seen: tuple[str, ...] = ()
    marks: tuple[int, ...] = field(default=(), compare=False)  # offending events of the run

    def __str__(self) -> str:
        where = f"run={show(self.run_id)} user={show(self.user)}"
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
    """The ids every event of a run must carry; `run_id` (or `thread_id`, where the server picks
    threads) None: learned from the run's first event."""

    thread_id: str | None
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


def normalize(message: Mapping[str, Any], containers: Sequence[str] = ("data",)) -> Message:
    """One flat dict: the objects named by `containers` (the dialect's; the reference's is
    `data`) merged in, an earlier container winning over a later one and the top level over
    all of them."""
    merged: Message = {}
    for name in reversed(containers):
        inner = message.get(name)
        if isinstance(inner, dict):
            merged.update(inner)
    for key, value in message.items():
        if key not in containers or not isinstance(value, dict):
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


def dig(message: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted `path` of a raw message (`data.connection_id`), or None."""
    node: Any = message
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def check_greeting(
    message: Mapping[str, Any],
    greeting: str = GREETING,
    paths: Sequence[str] = ("connection_id", "data.connection_id"),
) -> str | None:
    """Why the raw first `message` is not a `greeting` with a connection id at one of `paths`,
    or None when it is one."""
    if message.get("type") != greeting:
        return f"expected the first message to be {greeting}, got {show(type_of(message))}"
    found = next((value for path in paths if (value := dig(message, path)) is not None), None)
    if not isinstance(found, str) or not found:
        return f"expected {greeting} to carry a non-empty string at {' or '.join(paths)}"
    return None


def learned_id(events: Sequence[Mapping[str, Any]], key: str) -> str | None:
    """The `key` (run_id, thread_id) of the first agent_started, else of the first event naming
    one."""
    started = [string_field(e, key) for e in events if e.get("type") == "agent_started"]
    named = [string_field(e, key) for e in events]
    return next((value for value in [*started, *named] if value), None)


def learned_run_id(events: Sequence[Mapping[str, Any]]) -> str | None:
    return learned_id(events, "run_id")


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
        if key not in message:
            wrong.append(f"no {key}")
        elif message[key] != expected:
            wrong.append(f"{key}={show(message[key])}")
    return wrong


def find_tool_orphans(events: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """(index, description) of every tool_completed that closes no earlier open tool_executing
    (by execution_id when it has one, which must then name the same tool; else by tool_name),
    and of every tool_executing still open at agent_completed (its tool_completed was lost)."""
    open_calls: list[tuple[int, str | None, str | None]] = []
    orphans: list[tuple[int, str]] = []
    for index, event in enumerate(events):
        execution_id = string_field(event, "execution_id")
        tool_name = string_field(event, "tool_name")
        if event.get("type") == "agent_completed":
            for at, call, name in open_calls:
                text = (
                    f"event #{at} tool_executing(tool_name={show(name)}, execution_id={show(call)})"
                )
                orphans.append((at, f"{text} is still open at agent_completed"))
            open_calls.clear()
        if event.get("type") == "tool_executing":
            open_calls.append((index, execution_id, tool_name))
        elif event.get("type") == "tool_completed":
            key = 1 if execution_id is not None else 2
            wanted = execution_id if execution_id is not None else tool_name
            match = [call for call in open_calls if call[key] == wanted]
            if match and match[0][2] != tool_name:
                opened = match[0]
                open_calls.remove(opened)
                text = f"event #{index} tool_completed(tool_name={show(tool_name)}) closes"
                orphans.append(
                    (
                        index,
                        f"{text} execution_id={show(execution_id)}, opened as {show(opened[2])}",
                    )
                )
            elif match:
                open_calls.remove(match[0])
            else:
                text = f"event #{index} tool_completed(tool_name={show(tool_name)}, "
                text += f"execution_id={show(execution_id)}) closes no open tool_executing"
                orphans.append((index, text))
    return orphans


def check_run(
    events: Sequence[Mapping[str, Any]],
    expected: RunIds,
    *,
    schema_errors: SchemaCheck,
    require: Collection[str] = (),
) -> list[Violation]:
    """Every rule one run's events (normalized, in arrival order) break.

    `require` names event types a full run must contain (missing -> `delivery`). A `run_id` or
    `thread_id` the expectation leaves open is learned from the run's first events.
    """
    run_id = expected.run_id or learned_run_id(events) or f"<unknown, thread {expected.thread_id}>"
    thread_id = expected.thread_id or learned_id(events, "thread_id") or "<none>"
    ids = replace(expected, run_id=run_id, thread_id=thread_id)
    seen = tuple(type_of(event) for event in events)

    def broken(rule: RuleId, detail: str, marks: Sequence[int] = ()) -> Violation:
        return Violation(rule, run_id, expected.user_id, detail, seen, tuple(marks))

    if not events:
        return [broken("delivery", "expected agent_started ... agent_completed; nothing arrived")]
    found: list[Violation] = []
    schema = [
        (i, f"event #{i} {show(type_of(e))}: {errors[0]}")
        for i, e in enumerate(events)
        if (errors := schema_errors(e))
    ]
    if schema:
        texts = [text for _, text in schema]
        found.append(
            broken(
                "schema",
                f"expected every event to match its schema; {describe_examples(texts)}",
                [i for i, _ in schema],
            )
        )
    starts = [i for i, kind in enumerate(seen) if kind == "agent_started"]
    if len(starts) != 1:
        detail = f"expected agent_started exactly once, got {len(starts)}"
        found.append(broken("started-first", detail, starts[1:]))
    elif seen[0] != "agent_started":
        detail = f"expected agent_started first, got {show(seen[0])} first"
        found.append(broken("started-first", detail, range(starts[0])))
    if "agent_completed" not in seen:
        found.append(
            broken("delivery", "expected agent_completed within the wait bound; never came")
        )
    else:
        last = seen.index("agent_completed")
        if last != len(seen) - 1:
            after = list(seen[last + 1 :])
            detail = f"expected nothing after agent_completed, got {after}"
            found.append(broken("completed-last", detail, range(last + 1, len(seen))))
        if "agent_thinking" not in seen[:last]:
            detail = "expected at least one agent_thinking before agent_completed"
            found.append(broken("thinking", detail, [last]))
    orphans = find_tool_orphans(events)
    if orphans:
        texts = [text for _, text in orphans]
        found.append(
            broken(
                "tool-pairing",
                f"expected every tool_completed to close an open tool_executing of the same "
                f"tool and none open at agent_completed; {describe_examples(texts)}",
                [i for i, _ in orphans],
            )
        )
    wrong_ids = [
        (i, f"event #{i} {show(type_of(e))} has {', '.join(wrong)}")
        for i, e in enumerate(events)
        if (wrong := id_mismatches(e, ids, present_only=False))
    ]
    if wrong_ids:
        texts = [text for _, text in wrong_ids]
        found.append(
            broken(
                "ids",
                f"expected run_id={show(run_id)} thread_id={show(thread_id)} "
                f"user_id={show(ids.user_id)} on every event; {describe_examples(texts)}",
                [i for i, _ in wrong_ids],
            )
        )
    covered = {"agent_started", "agent_completed", "agent_thinking"}  # their rules say it
    missing = [t for t in require if t not in seen and t not in covered]
    if missing:
        found.append(broken("delivery", f"expected a full run to contain {missing}"))
    return found
