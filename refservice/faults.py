"""Fault modes: each one breaks exactly one rule of docs/protocol.md and nothing else.

The suite proves it can say *no* by running against the reference backend started with
`--fault NAME`. The stream faults rewrite a run's planned steps (pure functions); the
others are small predicates the server asks at the one place the rule is kept.

| fault                   | rule the suite must name |
|-------------------------|--------------------------|
| drop_completed          | delivery                 |
| reorder                 | started-first            |
| leak                    | isolation                |
| no_auth                 | auth                     |
| crash_on_malformed      | bad-input                |
| never_answer            | delivery                 |
| duplicate_started       | started-first            |
| wrong_run_id            | ids                      |
| after_completed         | completed-last           |
| no_pong                 | ping                     |
| orphan_tool_completed   | tool-pairing             |
| health_fail             | health                   |
| no_thinking             | thinking                 |
| bad_schema              | schema                   |
| frame_limit_off_by_one  | frame-size               |
| unasked_pong            | ping                     |
| open_tool_call          | tool-pairing             |
| accept_unsigned         | auth                     |
| method_wrong_user       | ids                      |
| leak_progress           | isolation                |
| parse_error_for_all     | bad-input                |
| nan_in_frame            | schema                   |
| busy_skips_tools        | delivery                 |
| late_event              | completed-last           |
| accept_no_exp           | auth                     |
| wrong_auth_code         | auth                     |
| repeat_auth_error       | auth                     |
| drop_large_frames       | frame-size               |
| nest_payload            | delivery                 |
| epoch_ms_timestamps     | schema                   |
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal, get_args

from refservice.agent import Step

if TYPE_CHECKING:
    from contract.dialect import Dialect

Fault = Literal[
    "drop_completed",
    "reorder",
    "leak",
    "no_auth",
    "crash_on_malformed",
    "never_answer",
    "duplicate_started",
    "wrong_run_id",
    "after_completed",
    "no_pong",
    "orphan_tool_completed",
    "health_fail",
    "no_thinking",
    "bad_schema",
    "frame_limit_off_by_one",
    "unasked_pong",
    "open_tool_call",
    "accept_unsigned",
    "method_wrong_user",
    "leak_progress",
    "parse_error_for_all",
    "nan_in_frame",
    "busy_skips_tools",
    "late_event",
    "accept_no_exp",
    "wrong_auth_code",
    "repeat_auth_error",
    "drop_large_frames",
    "nest_payload",
    "epoch_ms_timestamps",
]
FAULTS: tuple[Fault, ...] = get_args(Fault)

BROKEN_RULE: dict[Fault, str] = {
    "drop_completed": "delivery",
    "reorder": "started-first",
    "leak": "isolation",
    "no_auth": "auth",
    "crash_on_malformed": "bad-input",
    "never_answer": "delivery",
    "duplicate_started": "started-first",
    "wrong_run_id": "ids",
    "after_completed": "completed-last",
    "no_pong": "ping",
    "orphan_tool_completed": "tool-pairing",
    "health_fail": "health",
    "no_thinking": "thinking",
    "bad_schema": "schema",
    "frame_limit_off_by_one": "frame-size",
    "unasked_pong": "ping",
    "open_tool_call": "tool-pairing",
    "accept_unsigned": "auth",
    "method_wrong_user": "ids",
    "leak_progress": "isolation",
    "parse_error_for_all": "bad-input",
    "nan_in_frame": "schema",
    "busy_skips_tools": "delivery",
    "late_event": "completed-last",
    "accept_no_exp": "auth",
    "wrong_auth_code": "auth",
    "repeat_auth_error": "auth",
    "drop_large_frames": "frame-size",
    "nest_payload": "delivery",
    "epoch_ms_timestamps": "schema",
}

ORPHAN_EXECUTION_ID = "exec-orphan-never-opened"
ORPHAN_TOOL_NAME = "phantom_tool"
OPEN_EXECUTION_ID = "exec-open-never-closed"
OPEN_TOOL_NAME = "forgotten_tool"
UNASKED_PONG_EVERY = 0.05  # seconds between the pongs of `unasked_pong`
WRONG_USER_SUFFIX = "-via-{method}"  # `method_wrong_user`: the id such a connection gets
LATE_EVENT_AFTER = 1.0  # `late_event`: seconds after agent_completed
BUSY_CONNECTIONS = 3  # `busy_skips_tools`: with more connections open, runs skip their tool
WRONG_AUTH_CODE = "UNAUTHORIZED"  # `wrong_auth_code`: the code its refusal carries
REPEATED_AUTH_ERRORS = 2  # `repeat_auth_error`: error frames before the close
DROPPED_OVER = 8 * 1024  # `drop_large_frames`: bytes above which a frame is read and ignored
NESTED_UNDER = "payload"  # `nest_payload`: where an event's fields go (netra beta-preview-8)


def parse_fault(name: str) -> Fault:
    """The fault called `name`; ValueError naming the valid ones otherwise."""
    for fault in FAULTS:
        if fault == name:
            return fault
    raise ValueError(f"unknown fault {name!r}; expected one of: {', '.join(FAULTS)}")


def first_index(steps: list[Step], event_type: str) -> int | None:
    return next((i for i, step in enumerate(steps) if step.type == event_type), None)


def rewrite_steps(fault: Fault | None, planned: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps a run really sends under `fault` (the plan itself when it is a clean run)."""
    steps = list(planned)
    if fault == "drop_completed":
        steps = [step for step in steps if step.type != "agent_completed"]
    elif fault == "reorder":
        index = first_index(steps, "agent_thinking")
        if index is not None:
            thinking = steps.pop(index)
            steps.insert(0, dataclasses.replace(thinking, pause=0.0))
    elif fault == "duplicate_started":
        index = first_index(steps, "agent_started")
        if index is not None:
            steps.insert(index + 1, steps[index])
    elif fault == "after_completed":
        pause = max((step.pause for step in steps), default=0.0)
        steps.append(Step("agent_thinking", {"reasoning": "One more thought, too late."}, pause))
    elif fault == "late_event":
        late = Step("agent_thinking", {"reasoning": "A thought long after."}, LATE_EVENT_AFTER)
        steps.append(late)
    elif fault == "orphan_tool_completed":
        index = first_index(steps, "agent_completed")
        orphan = Step(
            "tool_completed",
            {
                "tool_name": ORPHAN_TOOL_NAME,
                "execution_id": ORPHAN_EXECUTION_ID,
                "success": True,
                "results": {},
                "duration": 0.0,
            },
        )
        steps.insert(len(steps) if index is None else index, orphan)
    elif fault == "open_tool_call":
        index = first_index(steps, "agent_completed")
        opened = Step(
            "tool_executing", {"tool_name": OPEN_TOOL_NAME, "execution_id": OPEN_EXECUTION_ID}
        )
        steps.insert(len(steps) if index is None else index, opened)
    elif fault == "no_thinking":
        steps = [step for step in steps if step.type != "agent_thinking"]
    elif fault == "bad_schema":
        steps = [
            dataclasses.replace(
                step, fields={k: v for k, v in step.fields.items() if k != "success"}
            )
            if step.type == "tool_completed"
            else step
            for step in steps
        ]
    return tuple(steps)


def stamp_run_id(fault: Fault | None, run_id: str, step: Step) -> str:
    """The run_id an event carries: wrong for every event but agent_started under wrong_run_id."""
    if fault == "wrong_run_id" and step.type != "agent_started":
        return run_id + "-x"
    return run_id


def checks_tokens(fault: Fault | None) -> bool:
    return fault != "no_auth"


def answers_ping(fault: Fault | None) -> bool:
    return fault not in {"no_pong", "unasked_pong"}


def starts_runs(fault: Fault | None) -> bool:
    return fault != "never_answer"


def crashes_on_malformed(fault: Fault | None) -> bool:
    return fault == "crash_on_malformed"


def leaks_events(fault: Fault | None) -> bool:
    return fault == "leak"


def health_status(fault: Fault | None) -> int:
    return 500 if fault == "health_fail" else 200


def frame_limit(fault: Fault | None, max_size: int) -> int:
    """The largest frame really accepted: one byte short of the limit under the fault."""
    return max_size - 1 if fault == "frame_limit_off_by_one" else max_size


def sends_unasked_pongs(fault: Fault | None) -> bool:
    """`unasked_pong`: pongs on a timer instead of answers (the pings are ignored)."""
    return fault == "unasked_pong"


def accepts_unsigned(fault: Fault | None) -> bool:
    return fault == "accept_unsigned"


def user_for(fault: Fault | None, source: str, user: str, dialect: Dialect) -> str:
    """The user id a verified connection gets: a wrong one under the fault, for connections
    that presented their token by the dialect's last method (?token= in the reference)."""
    if fault == "method_wrong_user" and source == dialect.auth_methods[-1]:
        return user + WRONG_USER_SUFFIX.format(method=source)
    return user


def leaks_progress(fault: Fault | None) -> bool:
    return fault == "leak_progress"


def error_code(fault: Fault | None, code: str) -> str:
    """The error_code sent for a bad input: JSON_PARSE_ERROR for every one under the fault."""
    return "JSON_PARSE_ERROR" if fault == "parse_error_for_all" else code


def sends_nan(fault: Fault | None) -> bool:
    """`nan_in_frame`: a progress message holding NaN, which JSON does not have."""
    return fault == "nan_in_frame"


def trim_when_busy(
    fault: Fault | None, connections: int, steps: tuple[Step, ...]
) -> tuple[Step, ...]:
    """`busy_skips_tools`: under load (more than BUSY_CONNECTIONS open) a run drops its tool
    call, both events; a lone run stays whole."""
    if fault != "busy_skips_tools" or connections <= BUSY_CONNECTIONS:
        return steps
    return tuple(step for step in steps if not step.type.startswith("tool_"))


def requires_exp(fault: Fault | None) -> bool:
    """Whether a token must carry `exp` (`accept_no_exp`: one without it is accepted too)."""
    return fault != "accept_no_exp"


def refusal_frames(fault: Fault | None, dialect: Dialect) -> tuple[int, str] | None:
    """How an accepted connection is refused: (error frames before the close, their code), or
    None for a refusal at the handshake (HTTP 401). The two auth faults refuse after the
    handshake in every dialect: one frame with a wrong code, or the right frame twice."""
    code = dialect.reject_error_codes[0] if dialect.reject_error_codes else "AUTH_FAILED"
    if fault == "wrong_auth_code":
        return 1, WRONG_AUTH_CODE
    if fault == "repeat_auth_error":
        return REPEATED_AUTH_ERRORS, code
    return (1, code) if dialect.reject_error_frame else None


def drops_frame(fault: Fault | None, frame: str | bytes) -> bool:
    """`drop_large_frames`: a frame over DROPPED_OVER bytes is read, then ignored (no answer,
    the connection stays open), as netra's beta-preview-8 did over 8 KiB."""
    return fault == "drop_large_frames" and len(frame) > DROPPED_OVER


def nested_under(fault: Fault | None) -> str | None:
    """`nest_payload`: the object an event's fields are put in instead of the top level."""
    return NESTED_UNDER if fault == "nest_payload" else None


def stamp_time(fault: Fault | None, now: float) -> float:
    """An event's timestamp: epoch seconds, or milliseconds under `epoch_ms_timestamps`."""
    return round(now * 1000, 3) if fault == "epoch_ms_timestamps" else now
