"""The simulated agent: plans the events of one run, without any I/O.

A run is a tuple of `Step`s. Each step is one agent event (its type and per-type fields)
and the pause to take before sending it. The server plays the steps; the fault modes
rewrite them. Planning is pure given the random generator, so it is easy to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import random

EventType = Literal[
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
]

AGENT_NAME = "reference_agent"
TOOL_NAME = "search_knowledge_base"
JITTER = 0.5  # pauses fall in [delay * (1 - JITTER), delay * (1 + JITTER)]


@dataclass(frozen=True)
class Step:
    """One agent event of a run, and the pause (seconds) before it is sent."""

    type: EventType
    fields: dict[str, Any]
    pause: float = 0.0


def make_pause(delay: float, rng: random.Random) -> float:
    """A pause of about `delay` seconds, with a little jitter (never negative)."""
    if delay <= 0:
        return 0.0
    return rng.uniform(delay * (1 - JITTER), delay * (1 + JITTER))


def make_execution_id(rng: random.Random) -> str:
    return f"exec-{rng.getrandbits(64):016x}"


def summarize_request(user_request: str, limit: int = 80) -> str:
    """The request as one short line, for reasoning texts."""
    line = " ".join(user_request.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def plan_run(user_request: str, delay: float, rng: random.Random) -> tuple[Step, ...]:
    """The events of one clean run for `user_request`.

    agent_started, agent_thinking, tool_executing, tool_completed, agent_thinking,
    agent_completed; the tool call carries an execution_id, and its `duration` is the
    pause actually taken between tool_executing and tool_completed.
    """
    request = summarize_request(user_request)
    execution_id = make_execution_id(rng)
    tool_pause = make_pause(delay, rng)
    return (
        Step("agent_started", {"agent_name": AGENT_NAME}),
        Step(
            "agent_thinking",
            {"reasoning": f"Working out how to answer: {request!r}"},
            make_pause(delay, rng),
        ),
        Step(
            "tool_executing",
            {
                "tool_name": TOOL_NAME,
                "execution_id": execution_id,
                "tool_args": {"query": request},
            },
            make_pause(delay, rng),
        ),
        Step(
            "tool_completed",
            {
                "tool_name": TOOL_NAME,
                "execution_id": execution_id,
                "success": True,
                "results": {"documents": [f"A note about {request!r}"], "count": 1},
                "duration": round(tool_pause, 6),
            },
            tool_pause,
        ),
        Step(
            "agent_thinking",
            {"reasoning": "Summarising what the tool found."},
            make_pause(delay, rng),
        ),
        Step(
            "agent_completed",
            {
                "status": "completed",
                "final_response": f"Here is what I found about {request!r}.",
            },
            make_pause(delay, rng),
        ),
    )
