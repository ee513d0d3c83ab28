"""Events as backends send them, for the contract's unit tests."""

from __future__ import annotations

from typing import Any

from contract.rules import RunIds

USER, OTHER = "user-a", "user-b"
IDS = RunIds(thread_id="thread-1", user_id=USER, run_id="run-1")
SHAPES = ("flat", "data")
FIELDS: dict[str, dict[str, Any]] = {
    "agent_started": {"agent_name": "helper"},
    "agent_thinking": {"reasoning": "considering"},
    "tool_executing": {"tool_name": "search", "execution_id": "e1", "tool_args": {"q": 1}},
    "tool_completed": {
        "tool_name": "search",
        "execution_id": "e1",
        "success": True,
        "results": [1],
        "duration": 0.01,
    },
    "agent_completed": {"status": "completed", "final_response": "done"},
}
CLEAN = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_thinking",
    "agent_completed",
)


def wire(event_type: str, shape: str = "flat", ids: RunIds = IDS, **changes: Any) -> dict[str, Any]:
    """A message as a backend of `shape` sends it; `changes` edit (None: drop) the fields."""
    fields = {
        "run_id": ids.run_id,
        "thread_id": ids.thread_id,
        "user_id": ids.user_id,
        "timestamp": 1_700_000_000.5,
        **FIELDS.get(event_type, {}),
    }
    fields.update(changes)
    fields = {key: value for key, value in fields.items() if value is not None}
    return (
        {"type": event_type, "data": fields} if shape == "data" else {"type": event_type, **fields}
    )


def event(event_type: str, ids: RunIds = IDS, **changes: Any) -> dict[str, Any]:
    """A flat message of `event_type` for the run `ids`; `changes` edit (None: drop) fields."""
    return wire(event_type, "flat", ids, **changes)
