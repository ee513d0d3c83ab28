"""A run's boundaries (rules `run-started`, `run-ids`, `run-terminal`, `run-outcome`).

- `run-started`: the first event is RUN_STARTED (or RUN_ERROR: a run may fail before it starts,
  as the official verifier allows), and no second RUN_STARTED comes before the terminal event.
- `run-ids`: the first RUN_STARTED, and a RUN_FINISHED that ends the run, carry the request's
  threadId and runId.
- `run-terminal`: exactly one terminal event (RUN_FINISHED or RUN_ERROR); it is the last, and
  the stream ends there. One POST asks for one run: the verifier's "a new run may follow" does
  not hold for an answer. A stream the suite stopped waiting for, still open at its bound
  (`closed=False`) without a terminal event, or without any event, is `delivery` instead.
- `run-outcome` (the gate's own runs, `check_outcome`): the terminal event is RUN_FINISHED
  with outcome success (or none: a producer older than the outcome field). RUN_ERROR, an
  interrupt or a cancellation is legal AG-UI, but not the normal run the gate asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.agui.events import TERMINALS, text_field

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contract.agui.events import Placed
    from contract.agui.requests import RunRequest
    from contract.agui.verdicts import Findings

SHOWN_MESSAGE = 120  # characters of a RUN_ERROR's message a finding quotes


def terminal_index(placed: Sequence[Placed]) -> int | None:
    return next((i for i, item in enumerate(placed) if item.type in TERMINALS), None)


def check_ids(item: Placed, request: RunRequest, findings: Findings) -> None:
    wanted = {"threadId": request.thread_id, "runId": request.run_id}
    wrong = [
        f"{key}={item.event.get(key)!r}"
        for key, value in wanted.items()
        if item.event.get(key) != value
    ]
    if wrong:
        findings.add("run-ids", item.at, f"event #{item.at} {item.type} has {', '.join(wrong)}")


def check_lifecycle(
    placed: Sequence[Placed], request: RunRequest, findings: Findings, *, closed: bool = True
) -> None:
    if not placed:
        if closed:
            findings.add("run-started", -1, "the stream ended without an event")
        else:
            findings.add("delivery", -1, "no event came, and the stream was still open")
        return
    end = terminal_index(placed)
    head = placed if end is None else placed[: end + 1]
    starts = [item for item in head if item.type == "RUN_STARTED"]
    if placed[0].type not in {"RUN_STARTED", "RUN_ERROR"}:
        before = head if not starts else head[: starts[0].at]
        text = f"event #0 is {placed[0].type}" + ("" if starts else ", and no RUN_STARTED came")
        findings.add("run-started", [item.at for item in before], text)
    for item in starts[1:]:
        text = f"event #{item.at} RUN_STARTED(runId={item.event.get('runId')!r}) is a second one"
        findings.add("run-started", item.at, text)
    if starts:
        check_ids(starts[0], request, findings)
    if end is not None and placed[end].type == "RUN_FINISHED":
        check_ids(placed[end], request, findings)
    if end is None:
        last = f"event #{placed[-1].at} {placed[-1].type}"
        if closed:
            findings.add("run-terminal", -1, f"the stream ended after {last} without one")
        else:
            findings.add("delivery", -1, f"the stream was still open after {last}, without one")
        return
    for item in placed[end + 1 :]:
        text = (
            f"event #{item.at} {item.type} comes after the terminal event #{end} {placed[end].type}"
        )
        findings.add("run-terminal", item.at, text)


def check_outcome(placed: Sequence[Placed], findings: Findings) -> None:
    end = terminal_index(placed)
    if end is None:
        return  # `run-terminal` (or `delivery`) says so
    item = placed[end]
    if item.type == "RUN_ERROR":
        message = text_field(item.event, "message") or ""
        shown = message[:SHOWN_MESSAGE] + ("..." if len(message) > SHOWN_MESSAGE else "")
        code = item.event.get("code")
        text = f"event #{end} RUN_ERROR ended the run: {shown!r}" + (
            f" (code {code!r})" if code is not None else ""
        )
        findings.add("run-outcome", end, text)
        return
    outcome = item.event.get("outcome")
    kind = outcome.get("type") if isinstance(outcome, dict) else outcome
    if kind not in {None, "success"}:
        findings.add("run-outcome", end, f"event #{end} RUN_FINISHED has outcome {kind!r}")
