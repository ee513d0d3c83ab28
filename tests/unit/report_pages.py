"""Suite data files written by hand, the run summaries that go with them, and their pages.

The files under ``report_data/`` follow docs/reports.md (format ``mission-critical-suite-data/1``)
and are written independently of the suite, so the page's tests do not wait for it:

- ``passing``: the reference backend, every check passed, latency of every run;
- ``reorder``: the reference backend with ``--fault reorder`` (agent_thinking before
  agent_started): every check that starts a run fails ``started-first``, its message marked;
- ``hostile``: markup, a known secret and a token-shaped string in every field that is shown;
- ``missing``: no data file at all (the page falls back to ``reorder.junit.xml``, real output
  of the suite against that fault).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks import report
from tasks.gate import _scrubber
from tasks.report import suite_data

DATA = Path(__file__).parent / "report_data"
SECRET = "mc-hostile-secret-0123456789abcdef"  # in hostile.suite.json; the harness knows it
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYy1ob3N0aWxlIn0.c2lnbmF0dXJlLXBhcnQ"  # it does not
FIXTURES = ("passing", "reorder", "hostile", "missing")
PHASES = {"settings": 0.003, "choice": 0.001, "bring-up": 0.093, "suite": 2.41, "teardown": 0.019}


def scrubber() -> Callable[[str], str]:
    return _scrubber([SECRET])


def load(name: str) -> suite_data.SuiteData:
    """The fixture's data as the harness reads it (``missing`` falls back to the JUnit XML)."""
    path = DATA / f"{name}.suite.json"
    return report.load_suite_data(path, DATA / "reorder.junit.xml", scrubber(), ran=True)


def summary_for(data: suite_data.SuiteData, directory: Path | None = None) -> report.Summary:
    """The summary the harness would hold after a local run that produced `data`."""
    failed = sum(1 for check in data.checks if check.outcome == "failed")
    stem = str((directory or Path("reports")) / "mission_critical-local-20261201T220113-4242")
    summary = report.Summary(
        requested="auto",
        env="local",
        reason="the reference backend runs here",
        rejected=[("docker", "no daemon socket at /var/run/docker.sock")],
        ws_url="ws://127.0.0.1:41234/ws",
        http_url="http://127.0.0.1:41234",
        backend_version="0.1.0",
        phases=dict(PHASES),
        counts=report.Counts(tests=len(data.checks), failures=failed),
        verdict="FAILED" if failed else "PASSED",
        problem=f"{failed} check(s) failed (pytest exit code 1)" if failed else "",
        junit_path=stem + ".xml",
        json_path=stem + ".json",
        html_path=stem + ".html",
        suite_data_path=stem + ".suite.json",
        suite_data_problem=data.problem,
        latency=suite_data.latency_facts(data.latency),
    )
    if data.latency and any(not budget.ok for budget in data.latency.budgets):
        summary.problem = "; ".join([summary.problem, *report.budget_breaches(summary.latency)])
    return summary


def render(name: str, directory: Path) -> Path:
    """Write the fixture's page into `directory`, as the harness does; its path."""
    data = load(name)
    path = directory / f"{name}.html"
    report.write_page(summary_for(data, directory), data, path, scrubber())
    return path


def many_users(users: int, seed: int = 7) -> dict[str, Any]:
    """A data file of a failing load check with `users` users: latency for every run, and the
    suite's caps used up (20 timelines of 200 messages with 2,000-character frames)."""
    rng = random.Random(seed)
    runs: list[dict[str, Any]] = []
    violations: list[dict[str, Any]] = []
    timelines: dict[str, Any] = {}
    for user in range(users):
        run_id, who = f"mc-run-{user:012x}", f"mc-load-{user}"
        started = rng.uniform(1, 40)
        runs.append(
            {
                "check": "load",
                "run_id": run_id,
                "user": who,
                "agent_started": round(started, 1),
                "agent_thinking": round(started + rng.uniform(5, 40), 1),
                "agent_completed": round(started + rng.uniform(60, 400), 1) if user % 50 else None,
            }
        )
        text = f"[delivery] run={run_id} user={who}: expected agent_completed; never came"
        key = f"t{user}" if user < suite_data.MAX_TIMELINES else None
        violations.append({"rule": "delivery", "run_id": run_id, "user": who, "text": text})
        violations[-1]["timeline"] = key
        if key:
            timelines[key] = {
                "title": f"run {run_id} of user {who}",
                "run_id": run_id,
                "thread_id": f"mc-thread-{user}",
                "user": who,
                "messages": [
                    {
                        "at_ms": float(i),
                        "type": "agent_thinking",
                        "run_id": run_id,
                        "thread_id": f"mc-thread-{user}",
                        "user_id": who,
                        "marked": i == suite_data.MAX_MESSAGES - 1,
                        "raw": json.dumps({"type": "agent_thinking", "reasoning": "x" * 1960}),
                        "raw_truncated": True,
                    }
                    for i in range(suite_data.MAX_MESSAGES)
                ],
                "messages_omitted": 17,
            }
    summary: dict[str, dict[str, Any]] = {}
    for metric in suite_data.METRICS:
        figures = sorted(float(run[metric]) for run in runs if run[metric] is not None)
        ranks = {p: figures[max(0, -(-len(figures) * p // 100) - 1)] for p in (50, 95, 99)}
        summary[metric] = {"count": len(figures), **{f"p{p}": v for p, v in ranks.items()}}
        summary[metric]["max"] = figures[-1]
    check = {
        "nodeid": "tests/mission_critical/test_concurrency.py::test_many_users",
        "name": "test_many_users",
        "rules": ["isolation", "delivery"],
        "outcome": "failed",
        "duration_s": 4.2,
        "violations": violations,
        "timelines": timelines,
    }
    return {
        "format": suite_data.FORMAT,
        "target": {"users": users, "dialect": "reference"},
        "checks": [check],
        "latency": {"unit": "ms", "runs": runs, "summary": summary, "budgets": []},
    }
