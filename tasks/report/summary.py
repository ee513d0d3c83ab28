"""The run summary: which environment, why, where, how long, what happened; as text and JSON.

The same facts go into the JUnit XML as testsuite properties, so a CI that only keeps the XML
still knows which backend was judged. The latency figures come from the suite's data file
(``tasks.report.suite_data``); the HTML page (``tasks.report.page``) shows all of it and more.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from contract.rules import RULE_IDS
from contract.visible import show
from tasks.report.suite_data import Check, SuiteData, Violation, read_suite_data

_RULE_LINE = re.compile(r"\[([a-z][a-z0-9-]*)\] ")
NOT_REPORTED = "not reported"  # what the suite records when the health answer names no version


@dataclass(frozen=True)
class Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    def __str__(self) -> str:
        return (
            f"{self.passed} passed, {self.failures} failed, {self.errors} errors, "
            f"{self.skipped} skipped"
        )


@dataclass
class Summary:
    requested: str
    env: str = ""
    reason: str = ""
    rejected: list[tuple[str, str]] = field(default_factory=list)
    ws_url: str = ""
    http_url: str = ""
    dialect: str = ""  # the dialect judged, and the file it came from
    backend: str = ""  # whose backend: the reference one, the team's command or stack, a URL
    backend_version: str = ""
    details: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    counts: Counts = field(default_factory=Counts)
    pytest_args: list[str] = field(default_factory=list)  # posargs, PYTEST_ADDOPTS: they narrow
    verdict: str = "not judged"  # "PASSED" | "FAILED" | "not judged"
    problem: str = ""
    junit_path: str = ""
    json_path: str = ""
    html_path: str = ""
    suite_data_path: str = ""  # the suite's own data file (MC_REPORT_DATA)
    suite_data_problem: str = ""  # why there is no usable suite data ("" when there is)
    latency: dict[str, Any] = field(default_factory=dict)  # {"unit", "summary", "budgets"}

    def as_text(self) -> str:
        rows = [
            ("environment", f"{self.env or '-'} (requested: {self.requested})"),
            ("why", self.reason or "-"),
            *(("not " + env, why) for env, why in self.rejected),
            ("target", f"{self.ws_url or '-'}  health: {self.http_url or '-'}"),
            *([("dialect", self.dialect)] if self.dialect else []),
            ("backend", self.backend or "-"),
            (
                "version",
                show(self.backend_version) if self.backend_version else "did not report a version",
            ),
            ("results", str(self.counts)),
            *(
                [
                    (
                        "pytest args",
                        f"{' '.join(self.pytest_args)} (the verdict covers what they select)",
                    )
                ]
                if self.pytest_args
                else []
            ),
            ("phases", ", ".join(f"{k} {format_duration(v)}" for k, v in self.phases.items())),
            *self._latency_rows(),
            ("reports", ", ".join(p for p in self._report_paths() if p) or "-"),
        ]
        rows += [(key, value) for key, value in self.details.items() if key.startswith("compose")]
        width = max(len(key) for key, _ in rows)
        head = f"mission-critical gate: {self.verdict}"
        if self.problem:
            head += f" - {self.problem}"
        lines = [f"  {key:<{width}} {':' if key else ' '} {value}" for key, value in rows]
        return "\n".join([head, *lines])

    def _report_paths(self) -> list[str]:
        return [self.junit_path, self.json_path, self.html_path]

    def _latency_rows(self) -> list[tuple[str, str]]:
        """`latency` and, when any is set, `budgets` rows (one line per metric)."""
        if not self.latency.get("summary"):
            why = self.suite_data_problem or "the suite reported none"
            return [("latency", f"- ({why})")] if self.verdict != "not judged" else []
        rows: list[tuple[str, str]] = []
        for metric, stat in self.latency["summary"].items():
            figures = ", ".join(f"{p} {format_ms(stat.get(p))}" for p in ("p50", "p95", "p99"))
            count = stat.get("count", 0)
            runs = "run" if count == 1 else "runs"
            text = f"{metric} {figures}, max {format_ms(stat.get('max'))} ({count} {runs})"
            rows.append(("" if rows else "latency", text))
        budgets = [_budget_text(b) for b in self.latency.get("budgets", [])]
        if budgets:
            rows.append(("budgets", "; ".join(budgets)))
        return rows

    def properties(self) -> dict[str, str]:
        return {
            "mc_env": self.env,
            "mc_requested": self.requested,
            "mc_reason": self.reason,
            "mc_rejected": "; ".join(f"{e}: {w}" for e, w in self.rejected),
            "mc_ws_url": self.ws_url,
            "mc_http_url": self.http_url,
            "mc_dialect": self.dialect,
            "mc_backend": self.backend,
            "mc_backend_version": show(self.backend_version) if self.backend_version else "",
            "mc_verdict": self.verdict,
            **{f"mc_phase_{k.replace('-', '_')}_s": f"{v:.3f}" for k, v in self.phases.items()},
        }


def format_duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def format_ms(value: float | None) -> str:
    """Milliseconds for people: 1.9 ms, 120 ms, 20,512 ms; '-' for no figure."""
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def _budget_text(budget: dict[str, Any]) -> str:
    figure = (
        f"{budget.get('metric')} {budget.get('percentile')} {format_ms(budget.get('value_ms'))}"
    )
    limit = format_ms(budget.get("budget_ms"))
    return f"{figure} {'within' if budget.get('ok') else 'EXCEEDS'} {limit}"


def budget_breaches(latency: dict[str, Any]) -> list[str]:
    """One `[latency] ...` line per budget the suite found exceeded."""
    return [
        f"[latency] {b.get('metric')} {b.get('percentile')} is {format_ms(b.get('value_ms'))}, "
        f"over its budget of {format_ms(b.get('budget_ms'))}"
        for b in latency.get("budgets", [])
        if not b.get("ok")
    ]


def reported_version(*candidates: str) -> str:
    """The first version a backend really reported ("" when none did): the suite's data file
    keeps it as sent, where the JUnit XML mangles its control characters."""
    return next((c for c in candidates if c and c != NOT_REPORTED), "")


def broken_rules(checks: Sequence[Check]) -> list[str]:
    """`[rule]` of every rule the failed checks break, in the protocol's order (docs/protocol.md),
    each once: what the one-line verdict names, as the terminal's failure lines do."""
    found = {v.rule for check in checks if check.outcome == "failed" for v in check.violations}
    known = [rule for rule in RULE_IDS if rule in found]
    return [f"[{rule}]" for rule in [*known, *sorted(found - {*known, ""})]]


def read_junit(path: Path) -> tuple[Counts, dict[str, str]]:
    """Counts and testsuite properties from a pytest JUnit file (zeros if it is missing)."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own child's output
    except (OSError, ET.ParseError):
        return Counts(), {}
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = Counts()
    props: dict[str, str] = {}
    for suite in suites:
        total = Counts(
            total.tests + int(suite.get("tests", 0)),
            total.failures + int(suite.get("failures", 0)),
            total.errors + int(suite.get("errors", 0)),
            total.skipped + int(suite.get("skipped", 0)),
        )
        for prop in suite.iter("property"):
            props[prop.get("name", "")] = prop.get("value", "")
    return total, props


def count_testcases(path: Path, package: str) -> tuple[int, int]:
    """(testcases of `package`, testcases of anything else) in a pytest JUnit file.

    A testcase's classname is its module's dotted path, after any --junit-prefix.
    """
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own child's output
    except (OSError, ET.ParseError):
        return 0, 0
    names = [case.get("classname", "") for case in root.iter("testcase")]
    inside = sum(1 for name in names if f".{package}." in f".{name}.")
    return inside, len(names) - inside


def checks_from_junit(path: Path, scrub: Callable[[str], str]) -> tuple[Check, ...]:
    """What the JUnit XML knows of each check, for a run whose suite wrote no data."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own child's output
    except (OSError, ET.ParseError):
        return ()
    checks = []
    for case in root.iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = scrub(case.get("name", ""))
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        outcome = (
            "failed" if failure is not None else "skipped" if skipped is not None else "passed"
        )
        message = ""
        if failure is not None:  # the element's text is the whole report; the attribute its head
            message = failure.text or failure.get("message", "").removeprefix("Failed: ")
        lines = [scrub(line) for line in message.splitlines()]
        try:
            duration: float | None = float(case.get("time", ""))
        except ValueError:
            duration = None
        checks.append(
            Check(
                nodeid=f"{scrub(module)}.py::{name}",
                name=name,
                outcome=outcome,
                skip_reason=scrub(skipped.get("message", "")) if skipped is not None else "",
                duration_s=duration,
                violations=tuple(
                    Violation(rule=match[1], text=line)
                    for line in lines
                    if (match := _RULE_LINE.match(line))
                )
                or ((Violation(rule="", text=lines[0]),) if lines else ()),
            )
        )
    return tuple(checks)


def load_suite_data(
    path: Path, junit: Path, scrub: Callable[[str], str], *, ran: bool
) -> SuiteData:
    """The suite's data for the report; without it, the checks the JUnit XML knows."""
    if not ran:
        return SuiteData(str(path), problem="the suite did not run")
    data = read_suite_data(path, scrub)
    if data.problem:
        return replace(data, checks=checks_from_junit(junit, scrub))
    return data


def add_junit_properties(path: Path, properties: dict[str, str]) -> None:
    try:
        tree = ET.parse(path)  # noqa: S314 - our own child's output
    except (OSError, ET.ParseError):
        return
    root = tree.getroot()
    for suite in [root] if root.tag == "testsuite" else list(root.iter("testsuite")):
        holder = suite.find("properties")
        if holder is None:
            holder = ET.Element("properties")
            suite.insert(0, holder)
        for name, value in properties.items():
            ET.SubElement(holder, "property", name=name, value=value)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_json(summary: Summary, path: Path) -> None:
    data = asdict(summary)
    data["counts"] = {**asdict(summary.counts), "passed": summary.counts.passed}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
