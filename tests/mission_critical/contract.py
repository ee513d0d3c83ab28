"""The wire contract (docs/protocol.md) as pure functions: no sockets, no clock, no files.

    server frame --parse_frame--> message --normalize--> flat dict
    flat dicts of one connection --Demux.route--> per-run event lists (+ strays, + named others)
    per-run events --check_run--> [Violation]        (schema, order, pairing, ids, delivery)
    strays / named others --check_foreign--> [Violation]   (isolation, ids)

A `Violation` renders as `[rule] run=<id> user=<id>: <expected, got>; seen=[types]`, which is
the first line of every failure the suite reports.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
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


@dataclass
class RunChecker:
    """One run as a connection sees it: the events routed to it so far, in order."""

    expected: RunIds
    events: list[Message] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        return self.expected.run_id or learned_run_id(self.events)

    @property
    def ids(self) -> RunIds:
        return replace(self.expected, run_id=self.run_id)

    @property
    def completed(self) -> bool:
        return any(event.get("type") == "agent_completed" for event in self.events)

    @property
    def seen(self) -> tuple[str, ...]:
        return tuple(type_of(event) for event in self.events)

    def check(
        self,
        *,
        schema_errors: SchemaCheck,
        require: Collection[str] = (),
    ) -> list[Violation]:
        return check_run(self.events, self.expected, schema_errors=schema_errors, require=require)


class Ledger:
    """Every run the suite started, by run_id and thread_id: who owns a message that names one."""

    def __init__(self) -> None:
        self._by_run: dict[str, RunIds] = {}
        self._by_thread: dict[str, RunIds] = {}

    def add(self, ids: RunIds) -> None:
        self._by_thread[ids.thread_id] = ids
        if ids.run_id is not None:
            self._by_run[ids.run_id] = ids

    def find(self, message: Mapping[str, Any], *, by_thread: bool = True) -> RunIds | None:
        run_id = string_field(message, "run_id")
        thread_id = string_field(message, "thread_id")
        if run_id is not None and run_id in self._by_run:
            return self._by_run[run_id]
        if by_thread and thread_id is not None:
            return self._by_thread.get(thread_id)
        return None


def find_owner(message: Mapping[str, Any], ledger: Ledger) -> RunIds | None:
    """The run a message names: by run_id, else (an event, or a message naming no run_id) by
    thread_id."""
    return ledger.find(message, by_thread=is_event(message) or "run_id" not in message)


def names_another_user(receiver: str, message: Mapping[str, Any], ledger: Ledger) -> bool:
    """Whether `message` names a user other than `receiver`, or a run of another user."""
    named_user = string_field(message, "user_id")
    owner = find_owner(message, ledger)
    return (named_user is not None and named_user != receiver) or (
        owner is not None and owner.user_id != receiver
    )


def check_foreign(
    receiver: str, messages: Sequence[Mapping[str, Any]], ledger: Ledger
) -> list[Violation]:
    """Isolation and ids for messages a connection got that name none of its tracked runs.

    Agent events and other types naming a `run_id` alike: each must belong to one of the
    receiver's own runs (from this or an earlier connection) and carry that run's ids.
    """
    per_run: dict[tuple[RuleId, str], list[Mapping[str, Any]]] = {}
    for message in messages:
        owner = find_owner(message, ledger)
        run_id = string_field(message, "run_id") or (owner.run_id if owner else None) or "?"
        if names_another_user(receiver, message, ledger):
            per_run.setdefault(("isolation", run_id), []).append(message)
        elif owner is None or id_mismatches(message, owner, present_only=not is_event(message)):
            per_run.setdefault(("ids", run_id), []).append(message)
    found = []
    for (rule, run_id), got in per_run.items():
        seen = tuple(type_of(m) for m in got)
        if rule == "isolation":
            owners = sorted({str(m.get("user_id", "?")) for m in got})
            detail = (
                f"expected only the receiver's own runs; "
                f"got {len(got)} message(s) of user(s) {owners}"
            )
        else:
            detail = (
                f"expected every message naming a run to name one of the receiver's runs with "
                f"its ids; got {len(got)} naming run_id={run_id!r} thread_id="
                f"{got[0].get('thread_id')!r} user_id={got[0].get('user_id')!r}"
            )
        found.append(Violation(rule, run_id, receiver, detail, seen))
    return found


class Demux:
    """Routes one connection's messages to the runs it started (by run_id, else thread_id)."""

    def __init__(self, user: str, ledger: Ledger) -> None:
        self.user = user
        self.ledger = ledger
        self.runs: list[RunChecker] = []
        self.strays: list[Message] = []  # agent events naming none of the tracked runs
        self.named: list[Message] = []  # other types naming a run or thread (judged at the end)
        self.malformed: list[str] = []  # why frames were not JSON objects with a type

    def track(self, ids: RunIds) -> RunChecker:
        """Expect a run; the ledger learns it too (its run_id later, once agent_started told)."""
        run = RunChecker(ids)
        self.runs.append(run)
        self.ledger.add(ids)
        return run

    def find_run(self, message: Mapping[str, Any]) -> RunChecker | None:
        run_id = string_field(message, "run_id")
        thread_id = string_field(message, "thread_id")
        by_run = [run for run in self.runs if run_id is not None and run.run_id == run_id]
        if by_run:
            return by_run[0]
        by_thread = [run for run in self.runs if run.expected.thread_id == thread_id]
        return by_thread[0] if by_thread else None

    def route(self, message: Message) -> RunChecker | None:
        """File one normalized message; the run it joined, if any."""
        if not is_event(message):
            if "run_id" in message or "thread_id" in message:
                self.named.append(message)
            return None
        run = self.find_run(message)
        if run is None:
            self.strays.append(message)
        else:
            run.events.append(message)
        return run

    def check(
        self,
        *,
        schema_errors: SchemaCheck,
        require: Collection[str] = (),
        judged: Callable[[RunChecker], bool] = lambda _run: True,
        dropped: bool = False,
    ) -> list[Violation]:
        """Every violation on this connection: its judged runs, its strays, its frames.

        `dropped`: the connection was cut mid-run on purpose, so its runs cannot complete;
        every rule but `delivery` still holds for what they sent.
        """
        found: list[Violation] = []
        for run in self.runs:
            self.ledger.add(run.ids)
            if judged(run):
                found += [
                    violation
                    for violation in run.check(schema_errors=schema_errors, require=require)
                    if not (dropped and violation.rule == "delivery")
                ]
        own = {run.run_id: run for run in self.runs if run.run_id is not None}
        foreign: list[Mapping[str, Any]] = list(self.strays)
        for message in self.named:
            if "run_id" not in message:  # a thread alone: judged only when it is another's
                if names_another_user(self.user, message, self.ledger):
                    foreign.append(message)
                continue
            named = own.get(string_field(message, "run_id") or "")
            if named is None or id_mismatches(message, named.ids, present_only=True):
                foreign.append(message)
        found += check_foreign(self.user, foreign, self.ledger)
        if self.malformed:
            counts = dict(Counter(self.malformed))
            found.append(
                Violation(
                    "schema",
                    NO_RUN,
                    self.user,
                    f"expected every frame to be a JSON object with a string type; got {counts}",
                )
            )
        return found
