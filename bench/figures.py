"""Figures: repetitions summarised (median, min, max) and the metric records of results.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Aggregate = Literal["median", "sum"]


@dataclass(frozen=True)
class Sample:
    """The repetitions of one measurement (in the metric's unit)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Sample:
        return cls(tuple(values))

    @property
    def reps(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")


@dataclass(frozen=True)
class Goal:
    """A goal as text, and the check of a (value, ratio) pair against it."""

    text: str
    check: Callable[[float, float | None], bool] = field(repr=False)


def below(limit: float, unit: str) -> Goal:
    return Goal(f"< {limit:g} {unit}", lambda value, _ratio: value < limit)


def at_most(limit: float, unit: str) -> Goal:
    return Goal(f"<= {limit:g} {unit}", lambda value, _ratio: value <= limit)


def none_at_all() -> Goal:
    return Goal("0", lambda value, _ratio: value == 0)


def ratio_at_least(share: float) -> Goal:
    """value / anchor >= share (throughput: a share of the ceiling)."""
    return Goal(
        f">= {share:.0%} of the anchor",
        lambda _value, ratio: ratio is not None and ratio >= share,
    )


def both(*goals: Goal) -> Goal:
    return Goal(
        " and ".join(g.text for g in goals),
        lambda value, ratio: all(g.check(value, ratio) for g in goals),
    )


@dataclass(frozen=True)
class Metric:
    """One row of the results: the harness's figure, its anchor, the ratio, the goal."""

    name: str
    unit: str
    sample: Sample
    anchor: str = ""  # what the anchor is, in words ("" = no anchor)
    anchor_sample: Sample | None = None
    goal: Goal | None = None
    note: str = ""
    digits: int = 1  # decimals shown in the table
    aggregate: Aggregate = "median"  # "sum": a count over the reps (failures, leftovers)

    @property
    def value(self) -> float:
        return float(sum(self.sample.values)) if self.aggregate == "sum" else self.sample.median

    @property
    def ratio(self) -> float | None:
        """value / anchor value: < 1 is faster for times, the share of the ceiling for rates."""
        if self.anchor_sample is None or not self.anchor_sample.values:
            return None
        anchor = self.anchor_sample.median
        return self.value / anchor if anchor else None

    @property
    def met(self) -> bool | None:
        if self.goal is None or not self.sample.values:
            return None
        return self.goal.check(self.value, self.ratio)

    def as_json(self) -> dict[str, Any]:
        anchor = self.anchor_sample
        return {
            "value": _clean(self.value) if self.sample.values else None,
            "unit": self.unit,
            "min": _clean(self.sample.low),
            "max": _clean(self.sample.high),
            "reps": self.sample.reps,
            "anchor": self.anchor or None,
            "anchor_value": _clean(anchor.median) if anchor else None,
            "anchor_min": _clean(anchor.low) if anchor else None,
            "anchor_max": _clean(anchor.high) if anchor else None,
            "anchor_reps": anchor.reps if anchor else None,
            "ratio": _clean(self.ratio) if self.ratio is not None else None,
            "goal": self.goal.text if self.goal else None,
            "met": self.met,
            "note": self.note or None,
            "digits": self.digits,
            "aggregate": self.aggregate,
        }


def not_run(name: str, unit: str, why: str) -> Metric:
    """A metric that could not be measured here, saying why."""
    return Metric(name, unit, Sample(()), note=f"not run: {why}")


def _clean(value: float) -> float | None:
    return None if value != value else round(value, 6)  # NaN -> null  # noqa: PLR0124


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }


def load_results(path: Path) -> dict[str, Any]:
    """The results file as it stands ({} when missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def merge_results(
    old: Mapping[str, Any], metrics: Iterable[Metric], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """Old metrics kept, new ones replacing theirs; the machine and run facts refreshed."""
    kept = old.get("metrics") if isinstance(old.get("metrics"), dict) else {}
    merged: dict[str, Any] = dict(kept or {})
    merged.update({m.name: m.as_json() for m in metrics})
    return {"machine": machine(), **extra, "metrics": merged}


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
