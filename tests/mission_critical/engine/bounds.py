"""What a run that missed a bound says: never sent, never answered, never completed.

A run must be answered within MC_TIMEOUT and complete within MC_RUN_TIMEOUT of its request,
and every wait of a check ends by the check's deadline (MC_RUN_TIMEOUT from its start), which
its runs one after another share: the `delivery` text names the bound that ran out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contract.routing import RunChecker

    from .sockets import Endpoint

NEVER_ANSWERED = "expected the run to be answered within {seconds:g} s (MC_TIMEOUT); nothing came"
NEVER_COMPLETED = "expected agent_completed within {seconds:g} s (MC_RUN_TIMEOUT); never came"
NEVER_SENT = (
    "expected the run to be asked for and complete by the check's deadline (MC_RUN_TIMEOUT="
    "{seconds:g} s from its start); less than {need:g} s (what a first answer may take) was left "
    "when its turn came (the check's earlier waits or runs of this user used it), so its "
    "request was never sent"
)
DEADLINE_ROUNDING = 1.0  # seconds: a run this close to its own bound is said to have had it
PAST_DEADLINE = (
    "expected agent_completed by the check's deadline (MC_RUN_TIMEOUT={seconds:g} s from the "
    "check's start, which its waits and runs one after another share: {left:.1f} s were left "
    "when this run's request left); never came"
)


def least_left(endpoint: Endpoint) -> float:
    """Seconds a run must have before the deadline to be asked for: a first answer's bound
    (MC_TIMEOUT), but never more than half the deadline (MC_RUN_TIMEOUT may equal MC_TIMEOUT)."""
    return min(endpoint.timeout, endpoint.run_timeout / 2)


def why_unfinished(
    run: RunChecker, endpoint: Endpoint, deadline: float, *, sent: bool
) -> str | None:
    """Why `run` missed a bound (None: it completed): never `sent` (the deadline came first),
    never answered, or never completed within its own bound or, when that came first, the
    check's `deadline` (monotonic seconds)."""
    run_timeout, timeout = endpoint.run_timeout, endpoint.timeout
    if not sent:
        return NEVER_SENT.format(seconds=run_timeout, need=least_left(endpoint))
    if not run.entries:
        return NEVER_ANSWERED.format(seconds=timeout)
    if run.completed:
        return None
    left = deadline - run.sent_at
    if left >= run_timeout - DEADLINE_ROUNDING:
        return NEVER_COMPLETED.format(seconds=run_timeout)
    return PAST_DEADLINE.format(seconds=run_timeout, left=left)
