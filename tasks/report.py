"""The run summary: which environment, why, where, how long, what happened; as text and JSON.

The same facts go into the JUnit XML as testsuite properties, so a CI that only keeps the XML
still knows which backend was judged.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path


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
    backend_version: str = ""
    details: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    counts: Counts = field(default_factory=Counts)
    pytest_args: list[str] = field(default_factory=list)  # posargs, PYTEST_ADDOPTS: they narrow
    verdict: str = "not judged"  # "PASSED" | "FAILED" | "not judged"
    problem: str = ""
    junit_path: str = ""
    json_path: str = ""

    def as_text(self) -> str:
        rows = [
            ("environment", f"{self.env or '-'} (requested: {self.requested})"),
            ("why", self.reason or "-"),
            *(("not " + env, why) for env, why in self.rejected),
            ("target", f"{self.ws_url or '-'}  health: {self.http_url or '-'}"),
            ("backend", self.backend_version or "did not report a version"),
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
            ("phases", ", ".join(f"{k} {_duration(v)}" for k, v in self.phases.items())),
            ("reports", f"{self.junit_path or '-'}, {self.json_path or '-'}"),
        ]
        rows += [(key, value) for key, value in self.details.items() if key.startswith("compose")]
        width = max(len(key) for key, _ in rows)
        head = f"mission-critical gate: {self.verdict}"
        if self.problem:
            head += f" - {self.problem}"
        return "\n".join([head, *(f"  {key:<{width}} : {value}" for key, value in rows)])

    def properties(self) -> dict[str, str]:
        return {
            "mc_env": self.env,
            "mc_requested": self.requested,
            "mc_reason": self.reason,
            "mc_rejected": "; ".join(f"{e}: {w}" for e, w in self.rejected),
            "mc_ws_url": self.ws_url,
            "mc_http_url": self.http_url,
            "mc_backend_version": self.backend_version,
            "mc_verdict": self.verdict,
            **{f"mc_phase_{k.replace('-', '_')}_s": f"{v:.3f}" for k, v in self.phases.items()},
        }


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


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
