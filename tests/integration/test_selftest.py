"""The suite judges the judge: it must fail every fault of the reference backend, naming the
broken rule, and pass the clean backend in both shapes with nothing skipped.

Each case starts `python -m refservice --port 0 ...` as a real subprocess and runs the real
suite (`python -m pytest tests/mission_critical`) against it as another. All suites run at
once (the waits of the faulty ones are mostly idle time), each with a small MC_TIMEOUT. A few
more cases pin the gate's own promises: a target it cannot reach fails, a bad variable is a
usage error, a skip fails unless MC_ALLOW_SKIPS.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import jwt
import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import ServiceLauncher

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITE_TIMEOUT = 120.0  # seconds for all suites together, from the first start
FAULT_TIMEOUT = "2"  # every wait of a faulty backend's suite runs out: keep it short
CLEAN_TIMEOUT = "5"  # a clean backend answers long before: room for a busy machine
SUITE_ENV = {"MC_USERS": "5", "MC_GRACE": "0.3", "MC_ENV": "selftest"}
STATIC_USERS = 2  # fewer than MC_USERS: the load check must skip in static-token mode

# From the fault table in docs/refservice.md: the rule the
# suite must name for each fault. Written here, not imported, so the two can disagree.
FAULT_RULES: dict[str, str] = {
    "drop_completed": "delivery",
    "reorder": "started-first",
    "leak": "isolation",
    "no_auth": "auth",
    "crash_on_malformed": "bad-input",
    "never_answer": "delivery",
    "duplicate_started": "started-first",
    "wrong_run_id": "ids",
    "after_completed": "completed-last",
    "no_pong": "ping",
    "orphan_tool_completed": "tool-pairing",
    "health_fail": "health",
    "no_thinking": "thinking",
    "bad_schema": "schema",
    "frame_limit_off_by_one": "frame-size",
    "unasked_pong": "ping",
    "open_tool_call": "tool-pairing",
    "accept_unsigned": "auth",
    "query_wrong_user": "ids",
    "leak_progress": "isolation",
    "parse_error_for_all": "bad-input",
    "nan_in_frame": "schema",
    "busy_skips_tools": "delivery",
}
CLEAN_SHAPES = ("flat", "data")

Backend = Literal["refservice", "unreachable"]
Auth = Literal["secret", "static"]


@dataclass(frozen=True)
class Case:
    name: str
    service_args: tuple[str, ...] = ()
    rule: str | None = None  # the rule a failing suite must name
    exit_code: int = 0
    says: str = ""  # text the output must contain
    backend: Backend = "refservice"
    auth: Auth = "secret"
    env: tuple[tuple[str, str], ...] = ()
    pytest_args: tuple[str, ...] = ()


CLEAN = [Case(f"clean-{shape}", ("--shape", shape)) for shape in CLEAN_SHAPES]
FAULTS = [
    Case(f"fault-{fault}", ("--fault", fault), rule, exit_code=1, says=f"[{rule}]")
    for fault, rule in FAULT_RULES.items()
]
GATE = [
    Case("unreachable", backend="unreachable", exit_code=1, says="[delivery]"),
    Case("usage-error", env=(("MC_USERS", "0"),), exit_code=4, says="MC_USERS='0'"),
    Case("static-skips-fail", auth="static", exit_code=1, says="MC_ALLOW_SKIPS=true"),
    Case("static-skips-allowed", auth="static", env=(("MC_ALLOW_SKIPS", "true"),), says="skipped"),
    # pdb at end-of-input quits at once and pytest counts the unrun bodies as passed
    Case("trace-skips-bodies", exit_code=1, says="judged nothing", pytest_args=("--trace",)),
]
CASES = [*CLEAN, *FAULTS, *GATE]


@dataclass(frozen=True)
class SuiteResult:
    returncode: int
    output: str
    junit: str
    seconds: float


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def static_tokens(secret: str) -> str:
    now = int(time.time())
    claims = [{"sub": f"selftest-static-{i}", "exp": now + 600} for i in range(STATIC_USERS)]
    return ",".join(jwt.encode(claim, secret, algorithm="HS256") for claim in claims)


def suite_env(ws_url: str, secret: str, case: Case) -> dict[str, str]:
    """The parent's environment without any MC_/REFSERVICE_ leftovers, plus this target."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MC_", "REFSERVICE_", "PYTEST_"))
    }
    env.update(SUITE_ENV, MC_WS_URL=ws_url, MC_ENV_REASON=f"self-test case {case.name}")
    env["MC_TIMEOUT"] = CLEAN_TIMEOUT if case.exit_code == 0 else FAULT_TIMEOUT
    if case.auth == "secret":
        env["MC_JWT_SECRET"] = secret
    else:
        env["MC_TOKENS"] = static_tokens(secret)
    env.update(case.env)
    return env


def run_suites(launcher: ServiceLauncher, secret: str, work: Path) -> dict[str, SuiteResult]:
    """Start one service per case, run every suite at once, and collect the results."""
    commands = {}
    for case in CASES:
        if case.backend == "refservice":
            ws_url = launcher.start(*case.service_args, secret=secret).ws_url
        else:
            ws_url = f"ws://127.0.0.1:{closed_port()}/ws"
        command = [
            *(sys.executable, "-m", "pytest", "tests/mission_critical", "-p", "no:cacheprovider"),
            *("-q", "-rfEs", f"--junitxml={work / f'{case.name}.xml'}", *case.pytest_args),
        ]
        commands[case.name] = (command, suite_env(ws_url, secret, case))
    started = time.monotonic()
    running: dict[str, subprocess.Popen[bytes]] = {}
    finished: dict[str, float] = {}
    try:
        for name, (command, env) in commands.items():
            with (work / f"{name}.out").open("wb") as out:
                running[name] = subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        for name, process in running.items():
            process.wait(max(0.1, started + SUITE_TIMEOUT - time.monotonic()))
            finished[name] = time.monotonic() - started
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {
        name: SuiteResult(
            returncode=process.returncode,
            output=(work / f"{name}.out").read_text("utf-8", errors="replace"),
            junit=read_text_if_any(work / f"{name}.xml"),
            seconds=finished[name],
        )
        for name, process in running.items()
    }


def read_text_if_any(path: Path) -> str:
    return path.read_text("utf-8", errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def secret() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="module")
def results(
    module_refservice_launcher: ServiceLauncher,
    secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, SuiteResult]:
    return run_suites(module_refservice_launcher, secret, tmp_path_factory.mktemp("selftest"))


def explain(case: Case, result: SuiteResult, problem: str) -> str:
    last = "\n".join(result.output.splitlines()[-40:])
    return f"{case.name} (exit {result.returncode}, {result.seconds:.1f} s): {problem}\n{last}"


def test_every_fault_mode_of_the_reference_backend_is_covered() -> None:
    from refservice.faults import FAULTS as SERVICE_FAULTS

    assert set(FAULT_RULES) == set(SERVICE_FAULTS)


@pytest.mark.parametrize("case", CLEAN, ids=lambda c: c.name)
def test_suite_passes_the_clean_backend_with_nothing_skipped(
    case: Case, results: dict[str, SuiteResult], secret: str
) -> None:
    result = results[case.name]
    assert result.returncode == 0, explain(case, result, "expected a pass")
    summary = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"=*\s*\d+ passed in [\d.]+s.*", summary), explain(case, result, summary)
    assert 'name="mc_env" value="selftest"' in result.junit
    assert 'name="backend_version"' in result.junit


@pytest.mark.parametrize("case", [*FAULTS, *GATE], ids=lambda c: c.name)
def test_suite_exits_as_expected_and_says_why(case: Case, results: dict[str, SuiteResult]) -> None:
    result = results[case.name]
    assert result.returncode == case.exit_code, explain(case, result, f"expected {case.exit_code}")
    assert case.says in result.output, explain(case, result, f"the output never says {case.says}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_no_secret_or_token_reaches_the_output_or_report(
    case: Case, results: dict[str, SuiteResult], secret: str
) -> None:
    result = results[case.name]
    for text in (result.output, result.junit):
        assert secret not in text
        assert "eyJ" not in text  # the start of any JWT (base64 of '{"')
