"""Spans that open and close by an id: text and reasoning messages, tool calls, steps, sub-agent
runs. Each kind pairs its own ids (a text message and a reasoning block may share one).

    events --pair_spans(moves: type -> (Spans, start | touch | end))--> findings

A span opens at its start and closes at its end; an event between (CONTENT, ARGS) must name an
open one; RUN_FINISHED finds every span still open (RUN_ERROR does not: a run that failed may
leave them, as the official client's verifier allows). An event whose id is not a string is
`schema`'s to name, and skipped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from contract.agui.events import Placed, text_field

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contract.agui.verdicts import AguiRuleId, Findings

Move = Literal["start", "touch", "end"]


@dataclass
class Spans:
    """One kind of span, keyed by one field; `once`: an id may start only once a run."""

    rule: AguiRuleId
    name: str  # "text message", for the findings' texts
    key: str  # the field holding the id
    findings: Findings
    once: bool = False
    open: dict[str, int] = field(default_factory=dict)  # id -> position of its start
    started: dict[str, int] = field(default_factory=dict)

    def describe(self, item: Placed) -> str:
        return f"event #{item.at} {item.type}({self.key}={text_field(item.event, self.key)!r})"

    def start(self, item: Placed) -> None:
        span = text_field(item.event, self.key)
        if span is None:
            return
        if span in self.open:
            text = f"{self.describe(item)} starts a {self.name} already open (event #"
            self.findings.add(self.rule, item.at, f"{text}{self.open[span]})")
        elif self.once and span in self.started:
            text = f"{self.describe(item)} starts a {self.name} again (first at event #"
            self.findings.add(self.rule, item.at, f"{text}{self.started[span]})")
        self.open[span] = item.at
        self.started.setdefault(span, item.at)

    def touch(self, item: Placed) -> bool:
        """Whether the event names an open span (a finding when not)."""
        span = text_field(item.event, self.key)
        if span is None:
            return False
        if span not in self.open:
            self.findings.add(
                self.rule, item.at, f"{self.describe(item)} names no open {self.name}"
            )
            return False
        return True

    def end(self, item: Placed) -> None:
        if self.touch(item):
            del self.open[str(item.event[self.key])]

    def finish(self, item: Placed) -> None:
        for span, at in self.open.items():
            text = f"{self.name} {self.key}={span!r} (event #{at}) is still open at event #"
            self.findings.add(self.rule, at, f"{text}{item.at} RUN_FINISHED")
        self.open.clear()


def pair_spans(
    events: Sequence[Placed], moves: Mapping[str, tuple[Spans, Move]], spans: Sequence[Spans]
) -> None:
    """Walk `events` (up to the terminal one), moving each kind's spans."""
    for item in events:
        move = moves.get(item.type)
        if move is not None:
            kind, action = move
            getattr(kind, action)(item)
        elif item.type == "RUN_FINISHED":
            for kind in spans:
                kind.finish(item)
