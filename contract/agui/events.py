"""AG-UI events as the rules read them: the 1.0 event types, the families they pair in, and one
stream's events with the position each came at.

An event is a decoded JSON object (a dict); nothing here checks its shape (the engine does, with
ag-ui-protocol's models). The readers return None for a field that is missing or not a string,
so a malformed event breaks `schema`, and the pairing rules skip what they cannot key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# ag-ui-protocol 1.0.0's EventType, in its order (tests/unit/test_agui_events.py compares).
# THINKING_* are gone in 1.0; SUBAGENT_* are new.
EVENT_TYPES: tuple[str, ...] = (
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_END",
    "TEXT_MESSAGE_CHUNK",
    "TOOL_CALL_START",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_END",
    "TOOL_CALL_CHUNK",
    "TOOL_CALL_RESULT",
    "STATE_SNAPSHOT",
    "STATE_DELTA",
    "MESSAGES_SNAPSHOT",
    "ACTIVITY_SNAPSHOT",
    "ACTIVITY_DELTA",
    "RAW",
    "CUSTOM",
    "RUN_STARTED",
    "RUN_FINISHED",
    "RUN_ERROR",
    "STEP_STARTED",
    "STEP_FINISHED",
    "REASONING_START",
    "REASONING_MESSAGE_START",
    "REASONING_MESSAGE_CONTENT",
    "REASONING_MESSAGE_END",
    "REASONING_MESSAGE_CHUNK",
    "REASONING_END",
    "REASONING_ENCRYPTED_VALUE",
    "SUBAGENT_STARTED",
    "SUBAGENT_FINISHED",
    "SUBAGENT_ERROR",
)
TERMINALS = frozenset({"RUN_FINISHED", "RUN_ERROR"})
MAX_SEEN = 40  # entries of a violation's `seen`; the rest are counted


@dataclass(frozen=True)
class Placed:
    """An event and the position in the stream of the wire event it came from (a chunk's
    expansion keeps its chunk's position)."""

    at: int
    event: Mapping[str, Any]

    @property
    def type(self) -> str:
        return type_of(self.event)


def type_of(event: Mapping[str, Any]) -> str:
    value = event.get("type")
    return value if isinstance(value, str) else "<no type>"


def text_field(event: Mapping[str, Any], key: str) -> str | None:
    value = event.get(key)
    return value if isinstance(value, str) else None


def place(events: Sequence[Mapping[str, Any]]) -> list[Placed]:
    return [Placed(at, event) for at, event in enumerate(events)]


def until_terminal(placed: Sequence[Placed]) -> list[Placed]:
    """The events up to and including the first terminal one: what comes after it is judged by
    `run-terminal` alone, so one defect is named once."""
    for index, item in enumerate(placed):
        if item.type in TERMINALS:
            return list(placed[: index + 1])
    return list(placed)


def summarize_types(events: Sequence[Mapping[str, Any]], limit: int = MAX_SEEN) -> tuple[str, ...]:
    """The stream's event types in order, a run of one type shown once with its count
    (`TEXT_MESSAGE_CONTENT x4`), at most `limit` entries and then how many more."""
    runs: list[list[Any]] = []
    for event in events:
        kind = type_of(event)
        if runs and runs[-1][0] == kind:
            runs[-1][1] += 1
        else:
            runs.append([kind, 1])
    shown = [kind if count == 1 else f"{kind} x{count}" for kind, count in runs]
    if len(shown) > limit:
        rest = sum(count for _, count in runs[limit:])
        shown = [*shown[:limit], f"... (+{rest} more)"]
    return tuple(shown)
