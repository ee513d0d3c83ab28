"""How fast the agent answered: per run, and as percentiles over every run the suite started.

runs --run_figures--> ms to the first agent_started / agent_thinking, and to agent_completed
figures --summarize--> count, p50, p95, p99, max (nearest rank)   --> budgets (rule `latency`)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract.rules import METRICS, NO_RUN, Metric, Violation

from .environment import BUDGET_VARIABLES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contract.routing import RunChecker

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class RunFigures:
    """Milliseconds from a run's request to each metric's event (None: it never came)."""

    check: str
    run_id: str
    user: str
    ms: Mapping[Metric, float | None]


def run_figures(check: str, run: RunChecker) -> RunFigures:
    ms: dict[Metric, float | None] = {}
    for metric in METRICS:
        at = next((e.at for e in run.entries if e.message.get("type") == metric), None)
        ms[metric] = None if at is None else round((at - run.sent_at) * 1000, 3)
    return RunFigures(check, str(run.run_id or NO_RUN), run.expected.user_id, ms)


def nearest_rank(ordered: Sequence[float], percentile: int) -> float:
    return ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)]


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p95, p99 and max of `values` (None figures when there are none)."""
    ordered = sorted(values)
    summary: dict[str, float | int | None] = {"count": len(ordered)}
    for percentile in PERCENTILES:
        summary[f"p{percentile}"] = nearest_rank(ordered, percentile) if ordered else None
    summary["max"] = ordered[-1] if ordered else None
    return summary


def summarize_all(figures: Sequence[RunFigures]) -> dict[Metric, dict[str, float | int | None]]:
    return {
        metric: summarize([v for f in figures if (v := f.ms[metric]) is not None])
        for metric in METRICS
    }


def budget_violation(
    metric: Metric, summary: Mapping[str, float | int | None], budget_s: float
) -> Violation | None:
    """A `latency` violation when the metric's p95 exceeds its budget (or cannot be known)."""
    p95 = summary.get("p95")
    name = BUDGET_VARIABLES[metric]
    if p95 is None:
        detail = f"expected a p95 time to {metric} within {budget_s:g} s ({name}); no run had one"
        return Violation("latency", NO_RUN, "-", detail)
    if p95 > budget_s * 1000:
        detail = (
            f"expected the p95 time to {metric} within {budget_s * 1000:g} ms ({name}); "
            f"it was {p95:g} ms over {summary['count']} run(s)"
        )
        return Violation("latency", NO_RUN, "-", detail)
    return None


def format_summary(summaries: Mapping[Metric, Mapping[str, float | int | None]]) -> str:
    """One line per metric, e.g. `agent_started: p50 12 ms, p95 30 ms, p99 31 ms, max 40 ms`."""
    lines = []
    for metric, summary in summaries.items():
        if not summary["count"]:
            lines.append(f"{metric}: no run had one")
            continue
        parts = [f"{key} {summary[key]:.0f} ms" for key in ("p50", "p95", "p99", "max")]
        lines.append(f"{metric}: {', '.join(parts)} ({summary['count']} runs)")
    return "\n".join(lines)
