"""The wake phase: try a sleeping deployment until it serves, or says no, within a bound.

    plan, STAGING_READY_TIMEOUT --wake--> Woken (the last try's probes, the time it took to wake)
                                         | ProbeError("wake")  when it never woke in time

A try runs the probes in order and stops at the first failure. While that failure is transient
(``tasks.environments.failures``: refused, reset, no answer, HTTP 429/5xx) and the bound
allows, the next try follows after a capped backoff (50 ms doubling to 0.25 s: at most four
requests a second to a waking deployment, and one that can serve is noticed within half a
second, the last try included), or after the Retry-After a 429 or 503 asks for. A definitive
failure (a name that does not resolve, an untrusted certificate, 401/403, 404, a body that is
not the health JSON, the wrong greeting) ends the phase at once: waiting would not change it.
The last try's results are the probes' verdicts; the time before it is the wake phase the report
shows. Progress is logged at once and then every few seconds while it waits.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.environments.probes import Plan, ProbeResult
from tasks.settings.errors import ProbeError

Log = Callable[[str], None]
Attempt = Callable[[Plan], list[ProbeResult]]

FIRST_PAUSE = 0.05  # seconds after the first transient answer
MAX_PAUSE = 0.25  # the backoff's cap: how late, at most, the gate notices an awake deployment
PROGRESS_EVERY = 5.0  # seconds between "waking" lines
NEVER_WOKE = (
    "not serving within {bound:g}s (STAGING_READY_TIMEOUT); {tries} tries, the last answer: "
    "{probe}: {seen}"
)
WAKING = "staging: waking: {seen}, {took:.0f}s of {bound:g}s (STAGING_READY_TIMEOUT)"
RETRY_TOO_LATE = (
    "{probe}: {seen}; the Retry-After asks for {retry:g}s, more than the {left:.1f}s left of "
    "STAGING_READY_TIMEOUT={bound:g}"
)


@dataclass(frozen=True)
class Woken:
    results: list[ProbeResult]  # the last try: every probe passed, or a definitive failure
    seconds: float  # from the first try to the start of the last one
    tries: int
    answers: dict[str, int] = field(default_factory=dict)  # transient answers seen, and how often

    def describe(self) -> str:
        """For the probe table's `wake` row and the log."""
        if self.tries == 1:
            return "answered at the first try"
        seen = ", ".join(f"{what} x{count}" for what, count in self.answers.items())
        return f"answered after {self.tries} tries ({seen})"


def _failed(results: list[ProbeResult]) -> ProbeResult | None:
    return next((r for r in results if r.outcome == "fail"), None)


def _answer(result: ProbeResult) -> str:
    """A transient failure as a short phrase, counted alike however long it waited."""
    if result.detail.startswith("no answer within") or " within " in result.detail:
        return f"{result.probe}: no answer"
    return f"{result.probe}: {result.detail.split(' (Retry-After')[0]}"


def wake(
    plan: Plan,
    bound: float,
    attempt: Attempt,
    log: Log,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Woken:
    """Try until a try passes or fails definitively; ProbeError("wake") when ``bound`` runs out.

    A try that starts before the bound ends runs to its own probe bound, so the phase takes at
    most ``bound`` plus one try."""
    start = clock()
    deadline, next_note = start + bound, start  # the first transient answer is shown at once
    pause, tries, answers = FIRST_PAUSE, 0, Counter[str]()
    while True:
        began = clock()
        results = attempt(plan)
        tries += 1
        failure = _failed(results)
        if failure is None or not failure.transient:
            return Woken(results, began - start, tries, dict(answers))
        answers[_answer(failure)] += 1
        now = clock()
        left = deadline - now
        if left <= 0:
            if bound <= 0:  # no wake asked for (STAGING_READY_TIMEOUT=0): the one try decides
                return Woken(results, began - start, tries, dict(answers))
            seen = NEVER_WOKE.format(
                bound=bound, tries=tries, probe=failure.probe, seen=failure.detail
            )
            raise ProbeError("wake", seen, now - start, failure.url)
        if failure.retry_after is not None and failure.retry_after > left:
            seen = RETRY_TOO_LATE.format(
                probe=failure.probe,
                seen=failure.detail,
                retry=failure.retry_after,
                left=left,
                bound=bound,
            )
            raise ProbeError("wake", seen, now - start, failure.url)
        if now >= next_note:
            log(WAKING.format(seen=_answer(failure), took=now - start, bound=bound))
            next_note = max(next_note + PROGRESS_EVERY, now)  # a steady pace, never a burst
        sleep(min(max(pause, failure.retry_after or 0.0), left))
        pause = min(pause * 2, MAX_PAUSE)
