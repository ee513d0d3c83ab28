"""The suite's data file, read into plain frozen values the report can trust.

The suite writes ``<report stem>.suite.json`` (format ``mission-critical-suite-data/1``, see
docs/reports.md) when the harness sets ``MC_REPORT_DATA``: every check with its rules, verdict,
duration, violations and the timelines of the runs they name, plus each run's latency. This
module is its only reader in the harness.

It trusts nothing in the file. A missing file, bad JSON, another format or a field of the wrong
type gives a ``SuiteData`` whose ``problem`` says so in one line (the page then shows what the
JUnit XML knows, via ``report.load_suite_data``); it never raises. Every string is scrubbed as it is
read, and the suite's size caps are applied again, so a runaway file cannot make a huge page.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contract import rules

FORMAT = "mission-critical-suite-data/1"
METRICS: tuple[str, ...] = rules.METRICS  # the latency the suite's data file holds, in order
PERCENTILES = ("p50", "p95", "p99", "max")
MAX_FILE_BYTES = 128 * 1024 * 1024
MAX_RAW_CHARS = 2000  # per frame, as the suite cuts them
MAX_MESSAGES = 200  # per timeline
MAX_TIMELINES = 20  # per check
MAX_VIOLATIONS = 1000  # per check (the suite does not cap them; a page must stay readable)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}")

Scrub = Callable[[str], str]


@dataclass(frozen=True)
class Message:
    at_ms: float | None
    type: str
    run_id: str
    thread_id: str
    user_id: str
    tool_name: str
    execution_id: str
    marked: bool
    raw: str
    raw_truncated: bool


@dataclass(frozen=True)
class Timeline:
    title: str
    run_id: str
    thread_id: str
    user: str
    messages: tuple[Message, ...]
    omitted: int  # messages the suite (or this reader) left out


@dataclass(frozen=True)
class Violation:
    rule: str
    text: str  # the `[rule] ...` line the terminal shows
    run_id: str = ""
    user: str = ""
    timeline: str | None = None  # a key of the check's timelines


@dataclass(frozen=True)
class Check:
    nodeid: str
    name: str
    outcome: str  # "passed" | "failed" | "skipped"
    rules: tuple[str, ...] = ()
    skip_reason: str = ""
    duration_s: float | None = None
    violations: tuple[Violation, ...] = ()
    timelines: Mapping[str, Timeline] = field(default_factory=dict)
    timelines_omitted: int = 0
    violations_omitted: int = 0


@dataclass(frozen=True)
class Stat:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class Budget:
    metric: str
    percentile: str
    budget_ms: float
    value_ms: float | None
    ok: bool


@dataclass(frozen=True)
class Latency:
    values: Mapping[str, tuple[float, ...]]  # metric -> every run's figure that came, in ms
    missing: Mapping[str, int]  # metric -> runs where that event never came
    summary: Mapping[str, Stat]
    budgets: tuple[Budget, ...] = ()


@dataclass(frozen=True)
class SuiteData:
    path: str
    problem: str = ""  # why there is no data ("" when the file was read)
    target: Mapping[str, str] = field(default_factory=dict)
    started_at: str = ""
    wall_s: float | None = None
    checks: tuple[Check, ...] = ()
    latency: Latency | None = None
    unknown_types: Mapping[str, int] = field(default_factory=dict)


def scrub_tokens(text: str) -> str:
    """`text` with anything shaped like a JWT or a bearer credential replaced by ***."""
    if "eyJ" in text:
        text = _JWT.sub("***", text)
    return _BEARER.sub(r"\1***", text)


class _BadFieldError(Exception):
    def __init__(self, where: str, expected: str, got: object, shown: str = "") -> None:
        super().__init__(f"{where}: expected {expected}, got {shown or type(got).__name__}")


class _Reader:
    """Typed access to parsed JSON, naming the field that is wrong."""

    def __init__(self, scrub: Scrub) -> None:
        self.scrub: Scrub = lambda text: scrub_tokens(scrub(text))

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _BadFieldError(where, "an object", value)
        return value

    def items(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _BadFieldError(where, "a list", value)
        return value

    def text(self, value: object, where: str, *, optional: bool = True) -> str:
        if value is None and optional:
            return ""
        if not isinstance(value, str):
            raise _BadFieldError(where, "a string", value)
        return self.scrub(value)

    def number(self, value: object, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _BadFieldError(where, "a number", value)
        if not math.isfinite(value):
            raise _BadFieldError(where, "a finite number", value)
        return float(value)

    def flag(self, value: object, where: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise _BadFieldError(where, "true or false", value)
        return value

    def count(self, value: object, where: str) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _BadFieldError(where, "a count", value)
        return value


def read_suite_data(path: Path, scrub: Scrub) -> SuiteData:
    """The data file at `path`, or a SuiteData saying in one line why there is none."""
    where = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return SuiteData(where, problem="the suite wrote no data file")
    except OSError as exc:
        return SuiteData(where, problem=f"the suite's data file cannot be read ({exc.strerror})")
    if size > MAX_FILE_BYTES:
        return SuiteData(where, problem=f"the suite's data file is too large ({size:,} bytes)")
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        return SuiteData(where, problem=f"the suite's data file cannot be read ({exc.strerror})")
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SuiteData(where, problem=f"the suite's data file is not JSON ({first[:120]})")
    reader = _Reader(scrub)
    try:
        return _parse(raw, where, reader)
    except _BadFieldError as exc:  # the field's path may hold the file's own keys: one short line
        said = " ".join(reader.scrub(str(exc)).split())
        return SuiteData(where, problem=f"the suite's data file is malformed: {said[:160]}")


def _parse(raw: object, where: str, r: _Reader) -> SuiteData:
    top = r.obj(raw, "the file")
    found = top.get("format")
    if found != FORMAT:
        shown = repr(r.scrub(found)[:60]) if isinstance(found, str) else ""
        raise _BadFieldError("format", repr(FORMAT), found, shown)
    target = {  # scalars only: a field a later suite adds in another shape is not shown
        r.scrub(key): r.scrub(value if isinstance(value, str) else json.dumps(value))
        for key, value in r.obj(top.get("target") or {}, "target").items()
        if isinstance(value, str | int | float | bool)
    }
    checks = tuple(
        _check(item, f"checks[{i}]", r)
        for i, item in enumerate(r.items(top.get("checks", []), "checks"))
    )
    latency = top.get("latency")
    unknown = r.obj(top.get("unknown_types", {}), "unknown_types")
    return SuiteData(
        where,
        target=target,
        started_at=r.text(top.get("started_at"), "started_at"),
        wall_s=r.number(top.get("wall_s"), "wall_s"),
        checks=checks,
        latency=None if latency is None else _latency(latency, r),
        unknown_types={
            r.text(k, "unknown_types key"): r.count(v, f"unknown_types.{k}")
            for k, v in unknown.items()
        },
    )


def _check(raw: object, where: str, r: _Reader) -> Check:
    item = r.obj(raw, where)
    outcome = r.text(item.get("outcome"), f"{where}.outcome", optional=False)
    if outcome not in {"passed", "failed", "skipped"}:
        raise _BadFieldError(
            f"{where}.outcome", "passed, failed or skipped", outcome, repr(outcome[:30])
        )
    timelines = r.obj(item.get("timelines") or {}, f"{where}.timelines")
    kept = list(timelines.items())[:MAX_TIMELINES]
    violations = r.items(item.get("violations") or [], f"{where}.violations")
    return Check(
        nodeid=r.text(item.get("nodeid"), f"{where}.nodeid", optional=False),
        name=r.text(item.get("name"), f"{where}.name"),
        outcome=outcome,
        rules=tuple(
            r.text(rule, f"{where}.rules[{i}]", optional=False)
            for i, rule in enumerate(r.items(item.get("rules") or [], f"{where}.rules"))
        ),
        skip_reason=r.text(item.get("skip_reason"), f"{where}.skip_reason"),
        duration_s=r.number(item.get("duration_s"), f"{where}.duration_s"),
        violations=tuple(
            _violation(v, f"{where}.violations[{i}]", r)
            for i, v in enumerate(violations[:MAX_VIOLATIONS])
        ),
        violations_omitted=max(0, len(violations) - MAX_VIOLATIONS),
        timelines={
            r.scrub(str(key)): _timeline(value, f"{where}.timelines.{key}", r)
            for key, value in kept
        },
        timelines_omitted=len(timelines) - len(kept),
    )


def _violation(raw: object, where: str, r: _Reader) -> Violation:
    item = r.obj(raw, where)
    timeline = item.get("timeline")
    return Violation(
        rule=r.text(item.get("rule"), f"{where}.rule", optional=False),
        text=r.text(item.get("text"), f"{where}.text") or r.text(item.get("detail"), where),
        run_id=r.text(item.get("run_id"), f"{where}.run_id"),
        user=r.text(item.get("user"), f"{where}.user"),
        timeline=None if timeline is None else r.text(timeline, f"{where}.timeline"),
    )


def _timeline(raw: object, where: str, r: _Reader) -> Timeline:
    item = r.obj(raw, where)
    messages = r.items(item.get("messages") or [], f"{where}.messages")
    kept = messages[:MAX_MESSAGES]
    return Timeline(
        title=r.text(item.get("title"), f"{where}.title"),
        run_id=r.text(item.get("run_id"), f"{where}.run_id"),
        thread_id=r.text(item.get("thread_id"), f"{where}.thread_id"),
        user=r.text(item.get("user"), f"{where}.user"),
        messages=tuple(_message(m, f"{where}.messages[{i}]", r) for i, m in enumerate(kept)),
        omitted=r.count(item.get("messages_omitted"), f"{where}.messages_omitted")
        + len(messages)
        - len(kept),
    )


def _message(raw: object, where: str, r: _Reader) -> Message:
    item = r.obj(raw, where)
    text = r.text(item.get("raw"), f"{where}.raw")
    return Message(
        at_ms=r.number(item.get("at_ms"), f"{where}.at_ms"),
        type=r.text(item.get("type"), f"{where}.type"),
        run_id=r.text(item.get("run_id"), f"{where}.run_id"),
        thread_id=r.text(item.get("thread_id"), f"{where}.thread_id"),
        user_id=r.text(item.get("user_id"), f"{where}.user_id"),
        tool_name=r.text(item.get("tool_name"), f"{where}.tool_name"),
        execution_id=r.text(item.get("execution_id"), f"{where}.execution_id"),
        marked=r.flag(item.get("marked"), f"{where}.marked"),
        raw=text[:MAX_RAW_CHARS],
        raw_truncated=r.flag(item.get("raw_truncated"), f"{where}.raw_truncated")
        or len(text) > MAX_RAW_CHARS,
    )


def _latency(raw: object, r: _Reader) -> Latency:
    item = r.obj(raw, "latency")
    values: dict[str, list[float]] = {metric: [] for metric in METRICS}
    missing = dict.fromkeys(METRICS, 0)
    for i, run in enumerate(r.items(item.get("runs") or [], "latency.runs")):
        run_item = r.obj(run, f"latency.runs[{i}]")
        for metric in METRICS:
            figure = r.number(run_item.get(metric), f"latency.runs[{i}].{metric}")
            if figure is None:
                missing[metric] += 1
            else:
                values[metric].append(figure)
    summary = r.obj(item.get("summary") or {}, "latency.summary")
    stats = {}
    for metric in METRICS:
        stat = r.obj(summary.get(metric) or {}, f"latency.summary.{metric}")
        figures = [r.number(stat.get(p), f"latency.summary.{metric}.{p}") for p in PERCENTILES]
        stats[metric] = Stat(
            r.count(stat.get("count"), f"latency.summary.{metric}.count"), *figures
        )
    budgets = []
    for i, budget in enumerate(r.items(item.get("budgets") or [], "latency.budgets")):
        b = r.obj(budget, f"latency.budgets[{i}]")
        limit = r.number(b.get("budget_ms"), f"latency.budgets[{i}].budget_ms")
        if limit is None:
            raise _BadFieldError(f"latency.budgets[{i}].budget_ms", "a number", None)
        budgets.append(
            Budget(
                metric=r.text(b.get("metric"), f"latency.budgets[{i}].metric", optional=False),
                percentile=r.text(b.get("percentile"), f"latency.budgets[{i}].percentile") or "p95",
                budget_ms=limit,
                value_ms=r.number(b.get("value_ms"), f"latency.budgets[{i}].value_ms"),
                ok=r.flag(b.get("ok"), f"latency.budgets[{i}].ok"),
            )
        )
    return Latency(
        values={metric: tuple(found) for metric, found in values.items()},
        missing=missing,
        summary=stats,
        budgets=tuple(budgets),
    )


def latency_facts(latency: Latency | None) -> dict[str, Any]:
    """The latency summary and budgets as plain JSON values (no per-run figures)."""
    if latency is None:
        return {}
    return {
        "unit": "ms",
        "summary": {metric: asdict(stat) for metric, stat in latency.summary.items()},
        "budgets": [asdict(budget) for budget in latency.budgets],
    }
