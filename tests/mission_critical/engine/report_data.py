"""The suite's data file (MC_REPORT_DATA): what the harness needs to draw its report page.

Format `mission-critical-suite-data/1` (docs/suite.md, "Data file"): the target, one entry per
check with its violations and, for each run they name, the run's timeline (the offending messages
marked), and the latency of every run with percentiles and budgets. Written with the standard
library only; every string is scrubbed of tokens and secrets, raw frames are capped.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contract.rules import NO_RUN, type_of
from contract.visible import show

from .client import RAW_LIMIT
from .environment import redact_url
from .latency import budget_violation

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    Scrub = Callable[[str], str]
    from pathlib import Path

    from contract.routing import Entry
    from contract.rules import Violation

    from .check import Check, Outcome
    from .client import Session
    from .runner import Runner

FORMAT = "mission-critical-suite-data/1"
MAX_MESSAGES = 200
MAX_TIMELINES = 20
JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
FIELDS = ("run_id", "thread_id", "user_id", "tool_name", "execution_id")


def message_row(entry: Entry, since: float, marked: bool, scrub: Scrub) -> dict[str, Any]:
    row: dict[str, Any] = {
        "at_ms": round((entry.at - since) * 1000, 3),
        "type": type_of(entry.message),
    }
    for key in FIELDS:
        value = entry.message.get(key)
        row[key] = scrub(value) if isinstance(value, str) else None
    row["marked"] = marked
    row["raw"] = scrub(entry.raw[:RAW_LIMIT])
    row["raw_truncated"] = len(entry.raw) > RAW_LIMIT
    return row


def timeline(
    title: str,
    entries: Sequence[Entry],
    since: float,
    marks: set[int],
    scrub: Scrub,
    ids: dict[str, str | None],
) -> dict[str, Any]:
    rows = [message_row(e, since, i in marks, scrub) for i, e in enumerate(entries[:MAX_MESSAGES])]
    return {
        "title": scrub(title),
        **{key: scrub(value) if value else value for key, value in ids.items()},
        "messages": rows,
        "messages_omitted": max(0, len(entries) - MAX_MESSAGES),
    }


def find_timeline(check: Check, violation: Violation, scrub: Scrub) -> dict[str, Any] | None:
    """The run `violation` is about as its connection saw it, or the connection's messages that
    were not its own (isolation, stray ids); None when it names no run."""
    sessions: list[Session] = [s for s in check.sessions if s.user == violation.user]
    for session in sessions:
        for run in session.demux.runs:
            if str(run.run_id or NO_RUN) == violation.run_id and run.entries:
                ids = {
                    "run_id": run.run_id,
                    "thread_id": run.thread_id,
                    "user": run.expected.user_id,
                }
                title = f"run {show(run.run_id)} of user {show(run.expected.user_id)}"
                return timeline(title, run.entries, run.sent_at, set(violation.marks), scrub, ids)
    for session in sessions:
        joined = {id(e) for run in session.demux.runs for e in run.entries}
        strays = [
            e
            for e in session.demux.log
            if id(e) not in joined and e.message.get("run_id") == violation.run_id
        ]
        if strays:
            named, receiver = show(violation.run_id), show(violation.user)
            title = f"messages of run {named} received by user {receiver}"
            ids = {"run_id": violation.run_id, "thread_id": None, "user": violation.user}
            return timeline(title, strays, session.opened_at, set(range(len(strays))), scrub, ids)
    return None


def check_entry(
    check: Check, item_name: str, outcome: Outcome, rules: Sequence[str], scrub: Scrub
) -> dict[str, Any]:
    if outcome.skipped is not None:
        state = "skipped"
    elif outcome.violations or outcome.crashed or not outcome.judged:
        state = "failed"
    else:
        state = "passed"
    violations: list[dict[str, Any]] = []
    timelines: dict[str, dict[str, Any]] = {}
    for violation in outcome.violations:
        key = None
        if len(timelines) < MAX_TIMELINES and violation.run_id != NO_RUN:
            found = find_timeline(check, violation, scrub)
            if found is not None:
                key = f"t{len(timelines) + 1}"
                timelines[key] = found
        violations.append(
            {
                "rule": violation.rule,
                "run_id": scrub(violation.run_id),
                "user": scrub(violation.user),
                "detail": scrub(violation.detail),
                "text": scrub(str(violation)),
                "timeline": key,
            }
        )
    return {
        "nodeid": check.nodeid,
        "name": item_name,
        "rules": list(rules),
        "phase": check.phase,
        "connections": len(check.sessions),
        "outcome": state,
        "skip_reason": outcome.skipped,
        "duration_s": round(outcome.seconds, 4),
        "violations": violations,
        "timelines": timelines,
    }


def unknown_types(runner: Runner) -> dict[str, int]:
    known = runner.settings.dialect.known_types()
    counts: dict[str, int] = {}
    for session in runner.sessions:
        for entry in session.demux.log:
            kind = type_of(entry.message)
            if kind not in known:
                counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def build(
    runner: Runner,
    outcomes: Mapping[str, Outcome],
    names: Mapping[str, str],
    rules: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    settings = runner.settings
    secret_scrub = runner.scrub

    def scrub(value: str) -> str:
        return JWT_LIKE.sub("***", secret_scrub(value))

    figures, summary = runner.figures, runner.latency
    budgets = []
    for metric, budget_s in settings.budgets.items():
        p95 = summary[metric]["p95"]
        ok = budget_violation(metric, summary[metric], budget_s) is None
        budgets.append(
            {
                "metric": metric,
                "percentile": "p95",
                "budget_ms": budget_s * 1000,
                "value_ms": p95,
                "ok": ok,
            }
        )
    return {
        "format": FORMAT,
        "target": {
            "ws_url": redact_url(settings.ws_url),
            "health_url": redact_url(settings.health_url),
            "env": settings.env_name,
            "env_reason": scrub(settings.env_reason),
            "dialect": settings.dialect.name,
            "dialect_source": settings.dialect.source,
            "auth_mode": settings.tokens.mode,
            "users": settings.users,
            "backend_version": scrub(runner.backend_version),
            "timeout_s": settings.timeout,
            "run_timeout_s": settings.run_timeout,
            "grace_s": settings.grace,
            "concurrency": "all" if settings.concurrency is None else settings.concurrency,
        },
        "started_at": datetime.fromtimestamp(runner.started_at, UTC).isoformat(),
        "wall_s": round(runner.wall, 4),
        "checks": [
            check_entry(runner.checks[nodeid], names[nodeid], outcome, rules[nodeid], scrub)
            for nodeid, outcome in outcomes.items()
        ],
        "latency": {
            "unit": "ms",
            "runs": [
                {"check": f.check, "run_id": scrub(f.run_id), "user": scrub(f.user), **f.ms}
                for f in figures
            ],
            "summary": summary,
            "budgets": budgets,
        },
        "unknown_types": unknown_types(runner),
    }


def write(path: Path, document: dict[str, Any]) -> None:
    """Write the data file whole (a temporary name, then a rename), so a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)
