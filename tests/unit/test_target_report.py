"""The Target's variables, URL redaction, and the report's reading and writing of JUnit/JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tasks import report
from tasks.gate import _conclude, _scrubber
from tasks.report import suite_data
from tasks.settings import Secret, load_settings
from tasks.settings.errors import VerdictError
from tasks.target import Target, redact_url

NO_DATA = report.SuiteData("suite.json", problem="the suite wrote no data file")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("wss://h.example/ws?token=abc.def", "wss://h.example/ws?token=***"),
        ("wss://user:pw@h.example:8443/ws", "wss://***@h.example:8443/ws"),
        ("ws://127.0.0.1:1/ws?a=1&jwt=x", "ws://127.0.0.1:1/ws?a=1&jwt=***"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_redact_url_hides_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_target_env_carries_secret_only_in_the_secret_variable(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"MC_USERS": "7"})
    target = Target(
        "local", "ws://127.0.0.1:9/ws", "http://127.0.0.1:9", "why", jwt_secret=Secret("s3cr3t!")
    )
    env = target.to_env(settings)
    assert env["MC_JWT_SECRET"] == "s3cr3t!"
    assert env["MC_USERS"] == "7"
    assert env["MC_ENV"] == "local"
    assert "s3cr3t!" not in repr(target)
    assert [k for k, v in env.items() if "s3cr3t!" in v] == ["MC_JWT_SECRET"]


def test_scrubber_replaces_every_secret_longest_first() -> None:
    scrub = _scrubber(["abcd", "abcdefgh", "xy"])
    assert scrub("token=abcdefgh and abcd, xy") == "token=*** and ***, xy"


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="1" tests="9">
<properties><property name="backend_version" value="0.1.0"/></properties>
<testcase classname="a" name="b"/></testsuite></testsuites>
"""


def test_read_junit_counts_and_properties(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    path.write_text(JUNIT)
    counts, props = report.read_junit(path)
    assert counts == report.Counts(tests=9, failures=2, errors=1, skipped=1)
    assert counts.passed == 5
    assert props == {"backend_version": "0.1.0"}


def test_missing_junit_reads_as_nothing_ran(tmp_path: Path) -> None:
    counts, props = report.read_junit(tmp_path / "absent.xml")
    assert counts.tests == 0
    assert props == {}


def test_summary_goes_into_junit_properties_and_json(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    path.write_text(JUNIT)
    summary = report.Summary(requested="auto", env="local", reason="docker unavailable")
    summary.phases["suite"] = 1.5
    summary.verdict = "PASSED"
    report.add_junit_properties(path, summary.properties())
    _, props = report.read_junit(path)
    assert props["mc_env"] == "local"
    assert props["mc_reason"] == "docker unavailable"
    assert props["mc_phase_suite_s"] == "1.500"
    report.write_json(summary, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["env"] == "local"
    assert data["verdict"] == "PASSED"


def test_summary_text_names_environment_reason_and_results() -> None:
    summary = report.Summary(
        requested="auto",
        env="local",
        reason="the reference backend runs here",
        rejected=[("docker", "daemon socket missing")],
        counts=report.Counts(tests=3),
        verdict="PASSED",
    )
    text = summary.as_text()
    assert text.startswith("mission-critical gate: PASSED")
    assert "not docker" in text
    assert "daemon socket missing" in text
    assert "3 passed, 0 failed" in text


def junit_with(*classnames: str) -> str:
    cases = "".join(
        f'<testcase classname="{name}" name="t{i}" />' for i, name in enumerate(classnames)
    )
    count = len(classnames)
    return (
        f'<testsuites><testsuite name="pytest" tests="{count}" failures="0" errors="0" '
        f'skipped="0">{cases}</testsuite></testsuites>'
    )


@pytest.mark.parametrize(
    ("classnames", "problem"),
    [
        (("tests.mission_critical.test_health",), ""),
        (("zz.tests.mission_critical.test_health",), ""),  # --junit-prefix=zz
        (("tests.unit.test_choose",), "no test ran"),
        (
            ("tests.mission_critical.test_health", "tests.unit.test_choose"),
            "1 test(s) outside tests/mission_critical ran",
        ),
    ],
    ids=["suite", "prefixed", "only-others", "suite-and-others"],
)
def test_the_verdict_counts_only_the_suites_own_checks(
    tmp_path: Path, classnames: tuple[str, ...], problem: str
) -> None:
    junit = tmp_path / "j.xml"
    junit.write_text(junit_with(*classnames))
    settings = load_settings(tmp_path, environ={})
    summary = report.Summary(requested="local", env="local")
    if not problem:
        _conclude(summary, settings, 0, junit, NO_DATA)
        assert summary.verdict == "PASSED"
        return
    with pytest.raises(VerdictError, match=re.escape(problem)):
        _conclude(summary, settings, 0, junit, NO_DATA)
    assert summary.verdict == "FAILED"


def test_summary_names_the_pytest_args_that_narrowed_the_run() -> None:
    summary = report.Summary(requested="local", pytest_args=["-k", "health"], verdict="PASSED")
    assert "pytest args : -k health (the verdict covers what they select)" in summary.as_text()
    assert "pytest args" not in report.Summary(requested="local").as_text()


def test_the_verdict_names_the_rules_the_failed_checks_break(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    suite = ("tests.mission_critical.test_auth", "tests.mission_critical.test_connection")
    junit.write_text(junit_with(*suite).replace('failures="0"', 'failures="2"'))
    broken = [("auth", "failed"), ("frame-size", "failed"), ("auth", "failed"), ("ids", "passed")]
    checks = tuple(
        suite_data.Check(
            f"tests/mission_critical/test_x.py::test_{i}",
            f"test_{i}",
            outcome,
            violations=(suite_data.Violation(rule, f"[{rule}] ..."),),
        )
        for i, (rule, outcome) in enumerate(broken)
    )
    summary = report.Summary(requested="local", env="local")
    data = report.SuiteData("x.suite.json", checks=checks)
    with pytest.raises(VerdictError) as caught:
        _conclude(summary, load_settings(tmp_path, environ={}), 1, junit, data)
    assert (
        summary.problem == "2 check(s) failed (pytest exit code 1), breaking [auth], [frame-size]"
    )
    assert str(caught.value).endswith(summary.problem)
