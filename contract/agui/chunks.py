"""`*_CHUNK` events expanded as the official client expands them (transformChunks, in
@ag-ui/client's src/chunks/transform.ts), so the rules judge what a client sees.

    wire events --expand_chunks--> Expansion(events with the chunks replaced, problems)

One chunk stream is open at a time (text, tool call or reasoning message). A chunk that names
another id, or a chunk of another family, closes it with a synthetic END; so does every other
event of the protocol, except RAW, ACTIVITY_SNAPSHOT, ACTIVITY_DELTA and
REASONING_ENCRYPTED_VALUE, which pass through as the client passes them. The first chunk of a
stream must carry its id (and a tool call its name): the client throws there and its stream
ends, so such a chunk is a problem of its family's rule, and is dropped. Where this follows the
code rather than the docs (closing on any event; nothing synthesized at the end of the stream;
SUBAGENT_* and unknown types, which the client's switch lacks, passing without closing), and
why, is in docs/dialects/ag-ui.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract.agui.events import EVENT_TYPES, Placed

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contract.agui.verdicts import AguiRuleId

# What passes a chunk stream without closing it (transform.ts passes these on as they are), and
# the SUBAGENT_* events its switch has no case for (0.0.58 predates them): they change nothing
# of the expansion. Every other event of 1.0 closes an open chunk stream before it passes.
PASSING = frozenset({"RAW", "ACTIVITY_SNAPSHOT", "ACTIVITY_DELTA", "REASONING_ENCRYPTED_VALUE"})
UNKNOWN_TO_THE_CLIENT = frozenset({"SUBAGENT_STARTED", "SUBAGENT_FINISHED", "SUBAGENT_ERROR"})


@dataclass(frozen=True)
class Family:
    """How one kind of chunk expands: the id it is keyed by and the events it stands for."""

    chunk: str
    key: str
    start: str
    content: str
    end: str
    rule: AguiRuleId
    required: tuple[str, ...]  # what the first chunk of a stream must carry
    copied: tuple[str, ...]  # chunk fields the START carries
    truthy_switch: bool = False  # reasoning: an empty-string id does not switch streams


FAMILIES = {
    family.chunk: family
    for family in (
        Family(
            "TEXT_MESSAGE_CHUNK",
            "messageId",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "text-messages",
            ("messageId",),
            ("name",),
        ),
        Family(
            "TOOL_CALL_CHUNK",
            "toolCallId",
            "TOOL_CALL_START",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_END",
            "tool-calls",
            ("toolCallId", "toolCallName"),
            ("toolCallName", "parentMessageId"),
        ),
        Family(
            "REASONING_MESSAGE_CHUNK",
            "messageId",
            "REASONING_MESSAGE_START",
            "REASONING_MESSAGE_CONTENT",
            "REASONING_MESSAGE_END",
            "reasoning",
            ("messageId",),
            (),
            truthy_switch=True,
        ),
    )
}


@dataclass
class Expansion:
    events: list[Placed] = field(default_factory=list)
    problems: list[tuple[AguiRuleId, int, str]] = field(default_factory=list)


def given(event: Mapping[str, Any], key: str) -> Any:
    """A field as the client reads it: None when absent (a JSON null, as ag-ui-protocol reads
    it, counts as absent too)."""
    return event.get(key)


@dataclass
class Chunker:
    out: Expansion = field(default_factory=Expansion)
    family: Family | None = None
    open_id: Any = None

    def close(self, at: int) -> None:
        if self.family is not None:
            end = {"type": self.family.end, self.family.key: self.open_id}
            self.out.events.append(Placed(at, end))
        self.family, self.open_id = None, None

    def emit(self, at: int, event: dict[str, Any], chunk: Mapping[str, Any]) -> None:
        if given(chunk, "metadata") is not None:
            event["metadata"] = chunk["metadata"]
        self.out.events.append(Placed(at, event))

    def expand(self, item: Placed, family: Family) -> None:
        chunk, at = item.event, item.at
        emitted = len(self.out.events)
        chunk_id = given(chunk, family.key)
        switches = bool(chunk_id) if family.truthy_switch else chunk_id is not None
        if self.family is not family or (switches and chunk_id != self.open_id):
            self.close(at)
        if self.family is not family:
            missing = [key for key in family.required if given(chunk, key) is None]
            if missing:
                text = f"event #{at} {family.chunk} starts a stream without {missing[0]}"
                self.out.problems.append((family.rule, at, f"{text} (the client stops here)"))
                return
            self.family, self.open_id = family, chunk_id
            start: dict[str, Any] = {"type": family.start, family.key: chunk_id}
            if family.chunk == "TEXT_MESSAGE_CHUNK":
                start["role"] = given(chunk, "role") or "assistant"
            for key in family.copied:
                if given(chunk, key) is not None:
                    start[key] = chunk[key]
            self.emit(at, start, chunk)
        delta = given(chunk, "delta")
        if delta is not None:
            self.emit(at, {"type": family.content, family.key: self.open_id, "delta": delta}, chunk)
        if len(self.out.events) == emitted and given(chunk, "metadata") is not None:
            self.emit(at, {"type": family.content, family.key: self.open_id, "delta": ""}, chunk)


CLOSING = frozenset(EVENT_TYPES) - FAMILIES.keys() - PASSING - UNKNOWN_TO_THE_CLIENT


def expand_chunks(placed: Sequence[Placed]) -> Expansion:
    """The stream as the official client's transformChunks hands it on, each event keeping the
    position of the wire event it came from (a synthetic END: of the event that closed it)."""
    chunker = Chunker()
    for item in placed:
        family = FAMILIES.get(item.type)
        if family is not None:
            chunker.expand(item, family)
            continue
        if item.type in CLOSING:
            chunker.close(item.at)
        chunker.out.events.append(item)
    return chunker.out
