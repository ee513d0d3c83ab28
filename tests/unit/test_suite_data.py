"""Reading the suite's data file: what a good one holds, and a one-line problem for a bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tasks import report
from tasks.report import suite_data
from tests.unit.report_pages import DATA, SECRET, TOKEN, load, many_users, scrubber


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "x.suite.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "hostile.suite.json").read_text())
    data.update(changes)
    return data


def test_a_passing_file_reads_every_check_and_every_run() -> None:
    data = load("passing")
    raw = json.loads((DATA / "passing.suite.json").read_text())
    assert data.problem == ""
    assert [c.nodeid for c in data.checks] == [c["nodeid"] for c in raw["checks"]]
    assert {c.outcome for c in data.checks} == {"passed"}
    assert data.latency is not None
    assert len(data.latency.values["agent_started"]) == len(raw["latency"]["runs"])
    assert (
        data.latency.summary["agent_completed"].p95
        == raw["latency"]["summary"]["agent_completed"]["p95"]
    )
    assert data.target["dialect"] == "reference"
    assert data.target["users"] == "10"


def test_a_reorder_file_keeps_the_marked_message_of_each_timeline() -> None:
    data = load("reorder")
    failed = [c for c in data.checks if c.outcome == "failed"]
    assert failed
    for check in failed:
        assert {v.rule for v in check.violations} == {"started-first"}
        for timeline in check.timelines.values():
            [marked] = [m for m in timeline.messages if m.marked]
            assert marked.type == "agent_thinking"
            assert timeline.messages[0] is marked


def test_every_string_is_scrubbed_as_it_is_read() -> None:
    data = load("hostile")
    everything = repr(data)
    assert SECRET not in everything
    assert "***" in data.checks[0].timelines[next(iter(data.checks[0].timelines))].messages[0].raw


def test_no_data_file_reads_as_the_junit_checks(tmp_path: Path) -> None:
    data = load("missing")
    assert data.problem == "the suite wrote no data file"
    assert data.latency is None
    failed = [c for c in data.checks if c.outcome == "failed"]
    assert len(failed) == 11
    assert failed[0].violations[0].rule == "started-first"
    assert failed[0].violations[0].text.startswith("[started-first] run=")
    assert failed[0].nodeid == "tests/mission_critical/test_auth.py::" + failed[0].name


def test_a_suite_that_did_not_run_has_no_data(tmp_path: Path) -> None:
    data = report.load_suite_data(tmp_path / "a", tmp_path / "b", scrubber(), ran=False)
    assert (data.problem, data.checks) == ("the suite did not run", ())


BAD = [
    ("empty", b"", "is not JSON"),
    ("truncated", b'{"format": "mission-critical-suite-data/1", "checks": [', "is not JSON"),
    ("not-utf8", b"\xff\xfe{}", "is not JSON"),
    ("a-list", b"[]", "the file: expected an object, got list"),
    ("no-format", b"{}", "format: expected 'mission-critical-suite-data/1', got NoneType"),
    ("other-format", json.dumps(base(format="v2")).encode(), "data/1', got 'v2'"),
    ("checks-object", json.dumps(base(checks={})).encode(), "checks: expected a list, got dict"),
    (
        "outcome-number",
        json.dumps(base(checks=[{"nodeid": "a", "outcome": 1}])).encode(),
        "checks[0].outcome: expected a string, got int",
    ),
    (
        "outcome-unknown",
        json.dumps(base(checks=[{"nodeid": "a", "outcome": "maybe"}])).encode(),
        "checks[0].outcome: expected passed, failed or skipped, got 'maybe'",
    ),
    (
        "nan-latency",
        (
            b'{"format": "mission-critical-suite-data/1", '
            b'"latency": {"runs": [{"agent_started": NaN}]}}'
        ),
        "latency.runs[0].agent_started: expected a finite number, got float",
    ),
    (
        "bool-as-number",
        json.dumps(base(wall_s=True)).encode(),
        "wall_s: expected a number, got bool",
    ),
    (
        "budget-without-limit",
        json.dumps(base(latency={"budgets": [{"metric": "agent_started", "ok": True}]})).encode(),
        "latency.budgets[0].budget_ms: expected a number",
    ),
    ("deep", b"[" * 100_000, "is not JSON"),
]


@pytest.mark.parametrize(("content", "problem"), [row[1:] for row in BAD], ids=[r[0] for r in BAD])
def test_a_bad_file_gives_one_line_naming_what_is_wrong(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    data = suite_data.read_suite_data(write(tmp_path, content), scrubber())
    assert problem in data.problem
    assert "\n" not in data.problem
    assert len(data.problem) < 200
    assert data.checks == ()


def test_a_bad_field_that_holds_a_secret_is_named_without_it(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"format": SECRET}))
    problem = suite_data.read_suite_data(path, scrubber()).problem
    assert "format" in problem
    assert SECRET not in problem


def test_a_bad_field_is_named_on_one_short_line_even_when_its_key_is_not(tmp_path: Path) -> None:
    key = "line one\nline two " + "x" * 500
    path = write(tmp_path, json.dumps(base(unknown_types={key: "many"})))
    problem = suite_data.read_suite_data(path, scrubber()).problem
    assert problem.startswith("the suite's data file is malformed: unknown_types.line one line")
    assert "\n" not in problem
    assert len(problem) < 200


def test_the_suites_caps_are_applied_again(tmp_path: Path) -> None:
    raw = many_users(30)
    check = raw["checks"][0]
    check["violations"] = check["violations"] * 40  # 1,200
    for index in range(25):  # more timelines than allowed, one of them too long
        check["timelines"][f"extra{index}"] = check["timelines"]["t0"]
    timeline = check["timelines"]["t0"] = dict(check["timelines"]["t0"])
    timeline["messages"] = timeline["messages"] * 3
    timeline["messages"][0] = {**timeline["messages"][0], "raw": "y" * 5000, "raw_truncated": False}
    data = suite_data.read_suite_data(write(tmp_path, json.dumps(raw)), scrubber())
    [read] = data.checks
    assert len(read.timelines) == suite_data.MAX_TIMELINES
    assert read.timelines_omitted == 25
    assert len(read.violations) == suite_data.MAX_VIOLATIONS
    assert read.violations_omitted == 1200 - suite_data.MAX_VIOLATIONS
    first = read.timelines["t0"]
    assert len(first.messages) == suite_data.MAX_MESSAGES
    assert first.omitted == 17 + 2 * suite_data.MAX_MESSAGES
    assert len(first.messages[0].raw) == suite_data.MAX_RAW_CHARS
    assert first.messages[0].raw_truncated


def test_latency_facts_hold_the_summary_and_budgets_not_every_run(tmp_path: Path) -> None:
    raw = many_users(10)
    raw["latency"]["budgets"] = [
        {"metric": "agent_started", "percentile": "p95", "budget_ms": 1.0, "value_ms": 39.0}
    ]
    data = suite_data.read_suite_data(write(tmp_path, json.dumps(raw)), scrubber())
    facts = suite_data.latency_facts(data.latency)
    assert set(facts) == {"unit", "summary", "budgets"}
    assert facts["summary"]["agent_completed"]["count"] == 10 - 1  # user 0 never completed
    assert data.latency is not None
    assert data.latency.missing["agent_completed"] == 1
    assert facts["budgets"] == [
        {
            "metric": "agent_started",
            "percentile": "p95",
            "budget_ms": 1.0,
            "value_ms": 39.0,
            "ok": False,  # a budget that does not say it held did not hold
        }
    ]
    assert suite_data.latency_facts(None) == {}
    assert TOKEN not in json.dumps(facts)
