"""Rule `latency`: with a budget set, the p95 time from a run's request to its first
agent_started, first agent_thinking or agent_completed stays within it.

One check per metric; a metric without a budget (MC_LATENCY_*_P95) is deselected, not skipped.
The figures are over every run of the suite, so this check is judged once all have settled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from contract.rules import METRICS

from .engine.latency import budget_violation

if TYPE_CHECKING:
    from contract.rules import Metric, Violation

    from .engine.check import Check

pytestmark = pytest.mark.mission_critical


@pytest.mark.latency_budget
@pytest.mark.rules("latency")
@pytest.mark.parametrize("metric", METRICS)
async def test_p95_latency_is_within_its_budget(mc: Check, metric: Metric) -> None:
    budget = mc.settings.budgets[metric]

    def judge() -> list[Violation]:
        found = budget_violation(metric, mc.runner.latency[metric], budget)
        return [] if found is None else [found]

    mc.judge_later(judge)
