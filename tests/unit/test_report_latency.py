"""Latency in the run summary: the terminal's rows and the JSON report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tasks import report
from tests.unit.report_pages import load, summary_for


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
