"""The harness's side of the report, end to end, with a stand-in for the suite.

``gate.judge`` runs for real (settings, the local reference backend as a process, teardown), but
the "python" it is given runs a small fake suite instead of pytest: it writes a JUnit file and
copies a hand-written data file to wherever ``MC_REPORT_DATA`` points (or writes garbage, or
nothing). So these tests pin what the harness does with the suite's data, without waiting for
the suite to write it: the page on every path, the latency in the JSON and the terminal summary,
a budget breach failing the run, and no secret anywhere.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest

from tasks import gate
from tasks.settings.errors import BringUpError, GateError, VerdictError
from tests.unit.report_pages import DATA

ROOT = Path(__file__).resolve().parents[2]
SECRET = "mc-flow-secret-0123456789abcdef0123456789"
FAKE_SUITE = """
import json, os, shutil, sys
junit = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--junitxml="))
failed = os.environ["FAKE_SUITE_FAILS"] == "1"
case = '<failure message="x">[started-first] run=r1 user=u1: agent_thinking first</failure>'
open(junit, "w").write(
    '<testsuites><testsuite name="pytest" tests="1" failures="%d" errors="0" skipped="0">'
    '<testcase classname="tests.mission_critical.test_runs" name="test_full_run">%s</testcase>'
    "</testsuite></testsuites>" % (failed, case if failed else "")
)
target = os.environ.get("MC_REPORT_DATA")
if not target:
    sys.exit("fake suite: MC_REPORT_DATA is not set")
source = os.environ["FAKE_SUITE_DATA"]
if source == "garbage":
    open(target, "w").write('{"format": "mission-critical-suite-data/1", "checks": [')
elif source != "none":
    data = json.load(open(source))
    data["latency"]["budgets"] = json.loads(os.environ["FAKE_SUITE_BUDGETS"])
    data["checks"][0]["name"] += " " + os.environ["MC_JWT_SECRET"]  # a suite that forgot to scrub
    json.dump(data, open(target, "w"))
print("fake suite ran; secret is", os.environ["MC_JWT_SECRET"])
sys.exit(1 if failed else 0)
"""
WRAPPER = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pytest" ]; then exec "{python}" "{suite}" "$@"; fi
if [ "$1" = "-m" ] && [ "$2" = "refservice" ] && [ -n "$FAKE_BACKEND_DIES" ]; then exit 3; fi
exec "{python}" "$@"
"""
HELD = [{"metric": "agent_completed", "percentile": "p95", "budget_ms": 5000.0, "value_ms": 116.1}]
BROKEN = [{**HELD[0], "budget_ms": 50.0, "ok": False}]
HELD[0]["ok"] = True


@dataclass(frozen=True)
class Case:
    name: str
    data: str  # a fixture name, "garbage" or "none"
    fails: bool = False
    budgets: tuple[dict[str, object], ...] = ()
    problem: str = ""  # in the GateError, "" for a pass
    page_says: str = ""  # on the page


CASES = [
    Case("passing", "passing", budgets=tuple(HELD), page_says="held"),
    Case(
        "budget-exceeded",
        "passing",
        budgets=tuple(BROKEN),
        problem="[latency] agent_completed p95 is 116 ms, over its budget of 50 ms",
        page_says="EXCEEDED (rule latency)",
    ),
    Case(
        "failing",
        "reorder",
        fails=True,
        problem="1 check(s) failed (pytest exit code 1), breaking [started-first]",
        page_says="offending",
    ),
    Case(
        "no-data",
        "none",
        fails=True,
        problem="1 check(s) failed (pytest exit code 1), breaking [started-first]",
        page_says="No suite data: the suite wrote no data file.",
    ),
    Case("garbage-data", "garbage", page_says="the suite's data file is not JSON"),
]


@dataclass
class Run:
    summary_text: str
    log: str
    error: GateError | None
    reports: Path

    def files(self, suffix: str) -> list[Path]:
        """The run's report files ending in `suffix` (".json" is the summary, not the data)."""
        found = self.reports.glob(f"mission_critical-local-*{suffix}")
        return sorted(p for p in found if suffix == ".suite.json" or ".suite." not in p.name)


def judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case, **extra: str) -> Run:
    suite = tmp_path / "fake_suite.py"
    suite.write_text(FAKE_SUITE)
    python = tmp_path / "python"
    python.write_text(WRAPPER.format(python=sys.executable, suite=suite))
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    source = (
        str(DATA / f"{case.data}.suite.json") if case.data in {"passing", "reorder"} else case.data
    )
    monkeypatch.setenv("FAKE_SUITE_DATA", source)
    monkeypatch.setenv("FAKE_SUITE_FAILS", "1" if case.fails else "0")
    monkeypatch.setenv("FAKE_SUITE_BUDGETS", json.dumps(list(case.budgets)))
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    lines: list[str] = []
    reports = tmp_path / "reports"
    environ = {"MC_REPORT_DIR": str(reports), "MC_JWT_SECRET": SECRET, "PATH": os.environ["PATH"]}
    error = None
    try:
        gate.judge("local", python=str(python), log=lines.append, root=ROOT, environ=environ)
    except GateError as exc:
        error = exc
    text = next((line for line in lines if line.startswith("mission-critical gate:")), "")
    return Run(text, "\n".join(lines), error, reports)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_run_writes_the_page_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    run = judge(tmp_path, monkeypatch, case)
    if case.problem:
        assert isinstance(run.error, VerdictError), run.log
        assert case.problem in str(run.error)
    else:
        assert run.error is None, run.log
    [page] = run.files(".html")
    [report] = run.files(".json")
    assert f"{report.name.removesuffix('.json')}.html" == page.name
    assert f", {page}" in run.summary_text  # the reports row names the page
    html = page.read_text()
    assert case.page_says in unescape(html)
    if case.problem:  # the page's one-line verdict says what the terminal's does
        verdict = html[html.index('<p class="problem">') :].split("</p>", 1)[0]
        assert case.problem in unescape(verdict)
    summary = json.loads(report.read_text())
    assert summary["html_path"] == str(page)
    assert summary["suite_data_path"] == str(page.with_suffix(".suite.json"))
    for text in [run.log, html, *(p.read_text() for p in run.reports.iterdir())]:
        assert SECRET not in text


def test_the_latency_figures_reach_the_json_and_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = judge(tmp_path, monkeypatch, CASES[0])
    expected = json.loads((DATA / "passing.suite.json").read_text())["latency"]["summary"]
    [report] = run.files(".json")
    latency = json.loads(report.read_text())["latency"]
    assert latency["summary"] == expected
    assert latency["budgets"] == HELD
    assert "  latency     : agent_started p50 " in run.summary_text
    assert "  budgets     : agent_completed p95 116 ms within 5,000 ms" in run.summary_text


def test_a_backend_that_never_comes_up_still_gets_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = judge(tmp_path, monkeypatch, CASES[0], FAKE_BACKEND_DIES="1")
    assert isinstance(run.error, BringUpError), run.log
    [page] = run.files(".html")
    html = page.read_text()
    assert "The suite did not run, so it wrote no data." in html
    assert "local environment did not come up" in html
    assert "  latency     : - (the suite did not run)" in run.summary_text
    assert SECRET not in html
