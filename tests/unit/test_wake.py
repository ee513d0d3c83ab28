"""The wake phase's decisions, on a clock of its own: what is retried, how soon, for how long.
(Which answers are transient: tests/unit/test_probe_failures.py.)"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tasks.environments.failures import Hints
from tasks.environments.probes import Plan, ProbeResult
from tasks.environments.wake import MAX_PAUSE, PROGRESS_EVERY, Woken, wake
from tasks.settings.errors import ProbeError

PLAN = Plan(
    ws_url="wss://staging.example/ws",
    http_url="https://staging.example",
    health_url="https://staging.example/health",
    bound=5.0,
    auth="test",
    token="t",
    context=None,
    insecure_ok=False,
    secrets=(),
    hints=Hints(rejected="check the secret"),
)
PASS = ProbeResult("health", "pass", 0.01, "HTTP 200, JSON object", PLAN.health_url)


def fail(detail: str, *, transient: bool = True, retry_after: float | None = None) -> ProbeResult:
    return ProbeResult(
        "health",
        "fail",
        0.01,
        detail,
        PLAN.health_url,
        failure="transient" if transient else "definitive",
        retry_after=retry_after,
    )


@dataclass
class Script:
    """A deployment's answers, one per try, on a fake clock each try advances by `took`."""

    answers: list[ProbeResult]
    took: float = 0.01
    now: float = 1000.0
    tried_at: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def attempt(self, _plan: Plan) -> list[ProbeResult]:
        self.tried_at.append(self.now)
        self.now += self.took
        return [self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]]

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def run(self, bound: float) -> Woken:
        return wake(
            PLAN, bound, self.attempt, self.lines.append, clock=self.clock, sleep=self.sleep
        )


def test_an_awake_deployment_costs_one_try() -> None:
    script = Script([PASS])
    woken = script.run(90)
    assert woken.tries == 1
    assert woken.seconds == 0
    assert woken.describe() == "answered at the first try"
    assert script.lines == []


def test_transient_answers_are_retried_with_a_backoff_capped_at_half_a_second() -> None:
    script = Script([fail("connection refused")] * 12 + [PASS])
    woken = script.run(90)
    gaps = [b - a - script.took for a, b in zip(script.tried_at, script.tried_at[1:], strict=False)]
    assert gaps[:3] == pytest.approx([0.05, 0.1, 0.2])
    assert gaps[3:] == pytest.approx([MAX_PAUSE] * (len(gaps) - 3))
    assert MAX_PAUSE <= 0.5  # "at most about 0.5 s between tries once the deployment answers"
    assert woken.tries == 13
    assert woken.describe() == "answered after 13 tries (health: connection refused x12)"
    assert woken.seconds == pytest.approx(script.tried_at[-1] - script.tried_at[0])


def test_a_retry_after_is_honoured() -> None:
    script = Script([fail("HTTP 429", retry_after=3.0), PASS])
    script.run(90)
    assert script.tried_at[1] - script.tried_at[0] == pytest.approx(3.0 + script.took)


def test_a_retry_after_beyond_the_bound_fails_at_once() -> None:
    script = Script([fail("HTTP 429 (Retry-After 120s)", retry_after=120.0), PASS])
    with pytest.raises(ProbeError) as caught:
        script.run(90)
    assert len(script.tried_at) == 1
    assert caught.value.probe == "wake"
    assert "the Retry-After asks for 120s, more than the 90.0s left" in caught.value.seen


def test_a_definitive_answer_ends_the_wake_at_once() -> None:
    refused = fail("handshake refused with HTTP 401", transient=False)
    script = Script([fail("connection refused"), refused, PASS])
    woken = script.run(90)
    assert woken.results == [refused]
    assert woken.tries == 2


def test_a_deployment_that_never_wakes_fails_after_the_bound_naming_the_last_answer() -> None:
    script = Script([fail("HTTP 503: waking up")], took=0.2)
    with pytest.raises(ProbeError) as caught:
        script.run(10)
    waited = script.now - script.tried_at[0]
    assert 10 <= waited < 10 + script.took + MAX_PAUSE
    assert caught.value.seen.startswith("not serving within 10s (STAGING_READY_TIMEOUT); ")
    assert caught.value.seen.endswith("the last answer: health: HTTP 503: waking up")


def test_progress_is_shown_at_once_and_then_every_few_seconds() -> None:
    script = Script([fail("HTTP 503: waking up")] * 60 + [PASS])
    script.run(90)
    assert script.lines[0] == (
        "staging: waking: health: HTTP 503: waking up, 0s of 90s (STAGING_READY_TIMEOUT)"
    )
    shown_at = [int(line.split(", ")[1].split("s")[0]) for line in script.lines]
    assert shown_at == list(range(0, 15, int(PROGRESS_EVERY)))  # 60 tries take about 15 s


def test_no_wake_bound_means_one_try_whose_failure_is_the_verdict() -> None:
    refused = fail("connection refused")
    woken = Script([refused, PASS]).run(0)
    assert woken.results == [refused]
    assert woken.tries == 1
