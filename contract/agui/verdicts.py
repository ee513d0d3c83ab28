"""The AG-UI rules' names, and what one stream breaks of them, as `contract.rules.Violation`s.

A violation renders as `[rule] run=<runId> user=<user>: expected ...; event #i TYPE ...; seen=
[types]`, like the WebSocket contract's; `marks` are the positions of the offending events in
the stream as it arrived. The rules are listed, each traced to its sources, in
docs/dialects/ag-ui.md (tests/unit/test_agui_rules.py keeps the two the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from contract.rules import Violation, describe_examples

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

AguiRuleId = Literal[
    "reachable",
    "health",
    "auth",
    "bad-input",
    "transport",
    "schema",
    "run-started",
    "run-ids",
    "run-terminal",
    "run-outcome",
    "tool-calls",
    "tool-args",
    "text-messages",
    "reasoning",
    "steps",
    "subagents",
    "isolation",
    "delivery",
    "latency",
]
AGUI_RULE_IDS: tuple[AguiRuleId, ...] = get_args(AguiRuleId)

EXPECTED: dict[AguiRuleId, str] = {
    "schema": "expected every event to match ag-ui-protocol 1.0.0's model of its type",
    "run-started": "expected RUN_STARTED first, and once",
    "run-terminal": (
        "expected exactly one terminal event (RUN_FINISHED or RUN_ERROR), last, and the stream "
        "to end there"
    ),
    "run-outcome": "expected the run to finish normally (RUN_FINISHED, outcome success)",
    "tool-calls": (
        "expected TOOL_CALL_START, ARGS, END by toolCallId, each id started once a run, every "
        "call ended before RUN_FINISHED, and each TOOL_CALL_RESULT naming an ended call"
    ),
    "tool-args": (
        "expected each call's concatenated TOOL_CALL_ARGS to be JSON, and to agree with a "
        "later MESSAGES_SNAPSHOT"
    ),
    "text-messages": (
        "expected TEXT_MESSAGE_START, CONTENT, END by messageId, every message ended before "
        "RUN_FINISHED"
    ),
    "reasoning": (
        "expected REASONING_START/END and REASONING_MESSAGE_START, CONTENT, END by messageId, "
        "all ended before RUN_FINISHED"
    ),
    "steps": (
        "expected STEP_STARTED and STEP_FINISHED paired by stepName, none open at RUN_FINISHED"
    ),
    "subagents": (
        "expected SUBAGENT_STARTED, then SUBAGENT_FINISHED or SUBAGENT_ERROR, by subagentRunId, "
        "none open at RUN_FINISHED"
    ),
    "isolation": "expected nothing of another request's (its canary, threadId, runId, message id)",
    "delivery": "expected a terminal event within the run bound",
}


@dataclass
class Findings:
    """What one stream breaks, rule by rule: each offending event's position and a line on it."""

    run_id: str
    user: str
    seen: tuple[str, ...]
    found: dict[AguiRuleId, list[tuple[tuple[int, ...], str]]] = field(default_factory=dict)

    def add(self, rule: AguiRuleId, at: int | Sequence[int], text: str) -> None:
        """One finding: the offending events' positions (-1: the end of the stream)."""
        marks = (at,) if isinstance(at, int) else tuple(at)
        self.found.setdefault(rule, []).append((marks, text))

    def violations(self, expected: Mapping[AguiRuleId, str] | None = None) -> list[Violation]:
        """One violation per broken rule, in the order of AGUI_RULE_IDS; `expected` may say a
        rule's expectation with this run's values (run-ids names the request's ids)."""
        wanted = {**EXPECTED, **(expected or {})}
        found = []
        for rule in AGUI_RULE_IDS:
            if rule not in self.found:
                continue
            items = self.found[rule]
            texts = [text for _, text in items]
            detail = f"{wanted[rule]}; {describe_examples(texts)}"
            marks = tuple(sorted({at for ats, _ in items for at in ats if at >= 0}))
            found.append(Violation(rule, self.run_id, self.user, detail, self.seen, marks))
        return found
