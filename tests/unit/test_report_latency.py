"""Latency in the run summary: the terminal's rows, the JSON report, and budgets in the verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tasks import report
from tasks.gate import _conclude, suite_data_file
from tasks.settings import load_settings
from tasks.settings.errors import VerdictError
from tests.unit.report_pages import load, summary_for

PASSING_JUNIT = (
    '<testsuites><testsuite name="pytest" tests="1" failures="0" errors="0" skipped="0">'
    '<testcase classname="tests.mission_critical.test_runs" name="t" /></testsuite></testsuites>'
)

NO_DATA = report.SuiteData("suite.json", problem="the suite wrote no data file")


def budget(ok: bool, value: float | None = 150.0, limit: float = 100.0) -> dict[str, Any]:
    metric = "agent_completed"
    return {"metric": metric, "percentile": "p95", "budget_ms": limit, "value_ms": value, "ok": ok}


def test_the_terminal_summary_has_a_latency_row_per_metric() -> None:
    summary = summary_for(load("passing"))
    text = summary.as_text()
    stat = summary.latency["summary"]["agent_started"]
    expected = (
        f"  latency     : agent_started p50 {report.format_ms(stat['p50'])}, "
        f"p95 {report.format_ms(stat['p95'])}, p99 {report.format_ms(stat['p99'])}, "
        f"max {report.format_ms(stat['max'])} ({stat['count']} runs)"
    )
    assert expected in text.splitlines()
    lines = text.splitlines()
    at = lines.index(expected)
    assert lines[at + 1].startswith("                agent_thinking p50 ")
    assert lines[at + 2].startswith("                agent_completed p50 ")
    assert "budgets" not in text  # none set, none shown
    assert re.search(r"reports +: \S+\.xml, \S+\.json, \S+\.html$", text, re.MULTILINE)


def test_a_run_without_suite_data_says_why_in_the_latency_row() -> None:
    summary = summary_for(load("missing"))
    assert "  latency     : - (the suite wrote no data file)" in summary.as_text()


@pytest.mark.parametrize(
    ("budgets", "shown"),
    [
        ([budget(ok=True, value=90.0)], "budgets     : agent_completed p95 90 ms within 100 ms"),
        ([budget(ok=False)], "budgets     : agent_completed p95 150 ms EXCEEDS 100 ms"),
    ],
    ids=["held", "exceeded"],
)
def test_budgets_show_their_figure_and_limit(budgets: list[dict[str, Any]], shown: str) -> None:
    summary = summary_for(load("passing"))
    summary.latency["budgets"] = budgets
    assert shown in summary.as_text()


def test_the_json_report_holds_the_latency_figures(tmp_path: Path) -> None:
    summary = summary_for(load("passing"), tmp_path)
    summary.latency["budgets"] = [budget(ok=True, value=90.0)]
    report.write_json(summary, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["latency"]["unit"] == "ms"
    assert set(data["latency"]["summary"]) == {"agent_started", "agent_thinking", "agent_completed"}
    assert set(data["latency"]["summary"]["agent_completed"]) == {
        "count",
        "p50",
        "p95",
        "p99",
        "max",
    }
    assert data["latency"]["budgets"] == [budget(ok=True, value=90.0)]
    assert data["html_path"].endswith(".html")
    assert data["suite_data_path"].endswith(".suite.json")
    assert data["suite_data_problem"] == ""


@pytest.mark.parametrize(
    ("budgets", "problem"),
    [
        ([], ""),
        ([budget(ok=True, value=90.0)], ""),
        (
            [budget(ok=False)],
            "[latency] agent_completed p95 is 150 ms, over its budget of 100 ms",
        ),
        (
            [budget(ok=False, value=None)],
            "[latency] agent_completed p95 is -, over its budget of 100 ms",
        ),
    ],
    ids=["none", "held", "exceeded", "no-figure"],
)
def test_an_exceeded_budget_fails_the_run_naming_latency(
    tmp_path: Path, budgets: list[dict[str, Any]], problem: str
) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(PASSING_JUNIT)
    summary = report.Summary(requested="local", env="local")
    summary.latency = {"unit": "ms", "summary": {}, "budgets": budgets}
    settings = load_settings(tmp_path, environ={})
    if not problem:
        _conclude(summary, settings, 0, junit, NO_DATA)
        assert summary.verdict == "PASSED"
        return
    with pytest.raises(VerdictError, match=re.escape(problem)):
        _conclude(summary, settings, 0, junit, NO_DATA)
    assert summary.verdict == "FAILED"


def test_a_breach_is_named_next_to_the_failed_checks(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(PASSING_JUNIT.replace('failures="0"', 'failures="1"'))
    summary = report.Summary(requested="local", env="local")
    summary.latency = {"budgets": [budget(ok=False)]}
    with pytest.raises(VerdictError) as caught:
        _conclude(summary, load_settings(tmp_path, environ={}), 1, junit, NO_DATA)
    assert str(caught.value).endswith(
        "1 check(s) failed (pytest exit code 1); "
        "[latency] agent_completed p95 is 150 ms, over its budget of 100 ms"
    )


def test_the_suite_data_file_sits_next_to_the_junit_xml() -> None:
    junit = Path("reports/mission_critical-local-20261201T220113-42.xml")
    assert suite_data_file(junit) == Path(
        "reports/mission_critical-local-20261201T220113-42.suite.json"
    )
