"""A run's named parts (rules `steps`, `subagents`): STEP_STARTED and STEP_FINISHED paired by
stepName; SUBAGENT_STARTED, then SUBAGENT_FINISHED or SUBAGENT_ERROR, by subagentRunId; none
open at RUN_FINISHED.

A step name may run again once finished (ag-ui-langgraph names steps after graph nodes, and a
node runs once per turn of its loop). A sub-agent's FINISHED ends its segment of the run, also
when it waits for input (ag-ui-protocol 1.0's SubagentFinishedEvent), so one may start again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.agui.pairing import Move, Spans, pair_spans

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contract.agui.events import Placed
    from contract.agui.verdicts import Findings


def check_steps(events: Sequence[Placed], findings: Findings) -> None:
    step = Spans("steps", "step", "stepName", findings)
    subagent = Spans("subagents", "sub-agent run", "subagentRunId", findings)
    moves: dict[str, tuple[Spans, Move]] = {
        "STEP_STARTED": (step, "start"),
        "STEP_FINISHED": (step, "end"),
        "SUBAGENT_STARTED": (subagent, "start"),
        "SUBAGENT_FINISHED": (subagent, "end"),
        "SUBAGENT_ERROR": (subagent, "end"),
    }
    pair_spans(events, moves, (step, subagent))
