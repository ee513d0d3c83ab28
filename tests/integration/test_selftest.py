"""The suite judges the judge: under every shipped dialect it must fail every fault of the
reference backend, naming the broken rule, and pass the clean backend with nothing skipped.

Each case starts `python -m refservice --port 0 --dialect D ...` as a real subprocess and runs
the real suite (`python -m pytest tests/mission_critical` with MC_CONTRACT=D) against it as
another. The suites run PARALLEL at a time (the waits of the faulty ones are mostly idle time),
each with small bounds. A few more cases pin the gate's own promises: a target it cannot reach,
or one that accepts TCP and never answers, fails every check at once; a bad variable or a
malformed dialect is a usage error; a skip fails unless MC_ALLOW_SKIPS.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import jwt
import pytest

from contract.dialect import load_dialect, shipped_dialects
from contract.messages import minted_claims
from tests.integration.conftest import stop_process

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import ServiceLauncher

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SUITE_TIMEOUT = 240.0  # seconds for all suites together, from the first start
PARALLEL = 12  # suites at once: the rest wait their turn
FAULT_BOUNDS = {"MC_TIMEOUT": "2", "MC_RUN_TIMEOUT": "4"}  # a faulty backend's waits run out
CLEAN_BOUNDS = {"MC_TIMEOUT": "5", "MC_RUN_TIMEOUT": "30"}  # room for a busy machine
SUITE_ENV = {"MC_USERS": "5", "MC_ENV": "selftest"}
STATIC_USERS = 2  # fewer than MC_USERS: the load check must skip in static-token mode
GRACE = 1.0  # MC_GRACE's default
# Whatever the backend does, the suite's own wall (its data file's wall_s, from the first
# handshake to the last close) stays within MC_RUN_TIMEOUT + MC_GRACE + this: the runner's
# PHASE_FLOOR (3 s) for the heavy phase after a timed phase that used its deadline, the closing
# handshakes (2.5 s at most), and a little.
WALL_SLACK = 6.0

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
    "method_wrong_user": "ids",
    "leak_progress": "isolation",
    "parse_error_for_all": "bad-input",
    "nan_in_frame": "schema",
    "busy_skips_tools": "delivery",
    "late_event": "completed-last",
    "accept_no_exp": "auth",
    "wrong_auth_code": "auth",
    "repeat_auth_error": "auth",
    "drop_large_frames": "frame-size",
    "nest_payload": "delivery",
    "epoch_ms_timestamps": "schema",
}
DIALECTS = ("reference", "netra")  # written here too: a new dialect must be added on purpose
NOT_JUDGED_YET = ("ag-ui",)  # the sse transport: a usage error until the suite speaks it
SHAPES = {"reference": ("flat", "data"), "netra": ("flat",)}

Backend = Literal["refservice", "unreachable", "silent"]
Auth = Literal["secret", "static", "static-complete"]  # complete: every token a check may need


@dataclass(frozen=True)
class Case:
    name: str
    service_args: tuple[str, ...] = ()
    dialect: str = "reference"
    rule: str | None = None  # the rule a failing suite must name
    exit_code: int = 0
    says: str = ""  # text the output must contain
    backend: Backend = "refservice"
    auth: Auth = "secret"
    env: tuple[tuple[str, str], ...] = ()
    pytest_args: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()  # what must not appear in the output (besides the secrets)
    within: float | None = None  # the suite must end within this many seconds


BROKEN_DIALECT = REPO_ROOT / "tests" / "integration" / "data" / "dialects" / "loosened.toml"
CLEAN = [
    Case(f"{dialect}-clean-{shape}", ("--shape", shape), dialect)
    for dialect in DIALECTS
    for shape in SHAPES[dialect]
]
# A team without the backend's secret that was given every kind of token a check needs (as
# many users as MC_USERS, an expired one, one without exp): nothing skips, everything passes.
CLEAN += [Case(f"{d}-static-complete", dialect=d, auth="static-complete") for d in DIALECTS]
FAULTS = [
    Case(f"{dialect}-{fault}", ("--fault", fault), dialect, rule, 1, f"[{rule}]")
    for dialect in DIALECTS
    for fault, rule in FAULT_RULES.items()
]
GATE = [
    Case("unreachable", backend="unreachable", exit_code=1, says="[reachable]"),
    # a port that accepts TCP and never answers: every check fails at once, in one bound
    Case("silent", backend="silent", exit_code=1, says="[reachable]", within=10 * 2.0),
    Case(
        "credentials-in-url",
        env=(("MC_WS_URL", "ws://user:Pw0rd-hidden@127.0.0.1:9/ws"),),
        exit_code=4,
        says="carries user:password@ credentials",
        hidden=("Pw0rd-hidden",),
    ),
    Case("usage-error", env=(("MC_USERS", "0"),), exit_code=4, says="MC_USERS='0'"),
    Case(
        "malformed-dialect",
        env=(("MC_CONTRACT", str(BROKEN_DIALECT)),),
        exit_code=4,
        says="loosened.toml, key rules: unknown section",
    ),
    Case("static-skips-fail", auth="static", exit_code=1, says="MC_ALLOW_SKIPS=true"),
    Case("static-skips-allowed", auth="static", env=(("MC_ALLOW_SKIPS", "true"),), says="skipped"),
    Case(
        "netra-static-skips-fail",
        dialect="netra",
        auth="static",
        exit_code=1,
        says="MC_ALLOW_SKIPS=true",
    ),
    # the checks run in one event loop, so there is nothing pdb could step into
    Case("trace-refused", exit_code=4, says="--trace cannot step", pytest_args=("--trace",)),
    *(
        Case(f"{name}-not-judged-yet", dialect=name, exit_code=4, says="does not judge yet")
        for name in NOT_JUDGED_YET
    ),
]
CASES = [*CLEAN, *FAULTS, *GATE]


@dataclass(frozen=True)
class SuiteResult:
    returncode: int
    output: str
    junit: str
    data: str
    seconds: float


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def static_tokens(
    secret: str, dialect: str, users: int = STATIC_USERS, expires_in: float = 600
) -> str:
    """Tokens as the dialect's auth service would issue them (claims filled in by the contract)."""
    spelled = load_dialect(dialect)
    now = time.time()
    claims = [
        minted_claims(spelled, f"selftest-static-{i}", now=now, expires_in=expires_in)
        for i in range(users)
    ]
    return ",".join(jwt.encode(claim, secret, algorithm="HS256") for claim in claims)


def no_exp_token(secret: str, dialect: str) -> str:
    """A token the auth service signed, but without `exp`: the backend must refuse it."""
    claims = minted_claims(load_dialect(dialect), "selftest-no-exp", now=time.time(), expires_in=1)
    del claims["exp"]
    return jwt.encode(claims, secret, algorithm="HS256")


def suite_env(ws_url: str, secret: str, case: Case) -> dict[str, str]:
    """The parent's environment without any MC_/REFSERVICE_ leftovers, plus this target."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MC_", "REFSERVICE_", "PYTEST_"))
    }
    env.update(SUITE_ENV, MC_WS_URL=ws_url, MC_ENV_REASON=f"self-test case {case.name}")
    env.update(CLEAN_BOUNDS if case.exit_code == 0 else FAULT_BOUNDS)
    env["MC_CONTRACT"] = case.dialect
    if case.auth == "secret":
        env["MC_JWT_SECRET"] = secret
    elif case.auth == "static":
        env["MC_TOKENS"] = static_tokens(secret, case.dialect)
    else:  # a team without the secret that was given every kind of token: nothing skips
        env["MC_TOKENS"] = static_tokens(secret, case.dialect, int(SUITE_ENV["MC_USERS"]))
        env["MC_EXPIRED_TOKEN"] = static_tokens(secret, case.dialect, 1, expires_in=-3600)
        env["MC_NO_EXP_TOKEN"] = no_exp_token(secret, case.dialect)
    env.update(case.env)
    return env


@contextmanager
def silent_listener() -> Iterator[int]:
    """A loopback port that accepts every connection and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


@dataclass
class Running:
    case: Case
    suite: subprocess.Popen[bytes]
    service: subprocess.Popen[bytes] | None
    started: float


def start_case(
    case: Case, launcher: ServiceLauncher, secret: str, work: Path, silent_port: int
) -> Running:
    service = None
    if case.backend == "refservice":
        running = launcher.start(*case.service_args, "--dialect", case.dialect, secret=secret)
        service, ws_url = running.process, running.ws_url
    elif case.backend == "silent":
        ws_url = f"ws://127.0.0.1:{silent_port}/ws"
    else:
        ws_url = f"ws://127.0.0.1:{closed_port()}/ws"
    command = [
        *(sys.executable, "-m", "pytest", "tests/mission_critical", "-p", "no:cacheprovider"),
        *("-q", "-rfEs", f"--junitxml={work / f'{case.name}.xml'}", *case.pytest_args),
    ]
    env = suite_env(ws_url, secret, case)
    env["MC_REPORT_DATA"] = str(work / f"{case.name}.data.json")
    with (work / f"{case.name}.out").open("wb") as out:
        suite = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Running(case, suite, service, time.monotonic())


def run_case(
    case: Case,
    launcher: ServiceLauncher,
    secret: str,
    work: Path,
    silent_port: int,
    deadline: float,
) -> SuiteResult:
    """One case to its end: its service, its suite (killed at the deadline), then its result."""
    running = start_case(case, launcher, secret, work, silent_port)
    try:
        running.suite.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        running.suite.kill()
        running.suite.wait()
    finally:
        if running.service is not None:
            stop_process(running.service)
    return collect(running, work)


def run_suites(launcher: ServiceLauncher, secret: str, work: Path) -> dict[str, SuiteResult]:
    """Run every case's suite, PARALLEL at a time, each against its own service."""
    deadline = time.monotonic() + SUITE_TIMEOUT
    with silent_listener() as port, ThreadPoolExecutor(PARALLEL) as pool:
        jobs = {
            case.name: pool.submit(run_case, case, launcher, secret, work, port, deadline)
            for case in CASES
        }
        return {name: job.result() for name, job in jobs.items()}


def collect(finished: Running, work: Path) -> SuiteResult:
    name = finished.case.name
    return SuiteResult(
        returncode=finished.suite.returncode,
        output=(work / f"{name}.out").read_text("utf-8", errors="replace"),
        junit=read_text_if_any(work / f"{name}.xml"),
        data=read_text_if_any(work / f"{name}.data.json"),
        seconds=time.monotonic() - finished.started,
    )


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


def test_every_fault_mode_and_every_dialect_is_covered() -> None:
    from refservice.faults import FAULTS as SERVICE_FAULTS

    assert set(FAULT_RULES) == set(SERVICE_FAULTS)
    assert set(DIALECTS) | set(NOT_JUDGED_YET) == set(shipped_dialects())


@pytest.mark.parametrize("case", CLEAN, ids=lambda c: c.name)
def test_suite_passes_the_clean_backend_with_nothing_skipped(
    case: Case, results: dict[str, SuiteResult], secret: str
) -> None:
    result = results[case.name]
    assert result.returncode == 0, explain(case, result, "expected a pass")
    summary = result.output.strip().splitlines()[-1]
    wanted = r"=*\s*\d+ passed(, \d+ deselected)? in [\d.]+s.*"
    assert re.fullmatch(wanted, summary), explain(case, result, summary)
    assert 'name="mc_env" value="selftest"' in result.junit
    assert f'name="mc_dialect" value="{case.dialect}"' in result.junit
    assert 'name="backend_version"' in result.junit
    data = json.loads(result.data)
    assert data["format"] == "mission-critical-suite-data/1"
    assert {check["outcome"] for check in data["checks"]} == {"passed"}
    assert data["latency"]["summary"]["agent_completed"]["count"] > 0


@pytest.mark.parametrize("case", [*FAULTS, *GATE], ids=lambda c: c.name)
def test_suite_exits_as_expected_and_says_why(case: Case, results: dict[str, SuiteResult]) -> None:
    result = results[case.name]
    assert result.returncode == case.exit_code, explain(case, result, f"expected {case.exit_code}")
    assert case.says in result.output, explain(case, result, f"the output never says {case.says}")
    if case.within is not None:  # a bound, not a speed target: the old suite took 26 x MC_TIMEOUT
        assert result.seconds < case.within, explain(case, result, f"took over {case.within} s")
    if case.rule is not None:  # the data file names the rule too, with the run it broke
        rules = {v["rule"] for c in json.loads(result.data)["checks"] for v in c["violations"]}
        assert case.rule in rules, explain(case, result, f"the data file lacks {case.rule}")
    if result.data:
        bound = float(FAULT_BOUNDS["MC_RUN_TIMEOUT"]) + GRACE + WALL_SLACK
        wall = json.loads(result.data)["wall_s"]
        assert wall <= bound, explain(case, result, f"the suite took {wall} s, over {bound} s")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_no_secret_or_token_reaches_the_output_or_report(
    case: Case, results: dict[str, SuiteResult], secret: str
) -> None:
    result = results[case.name]
    for text in (result.output, result.junit, result.data):
        assert secret not in text
        assert "eyJ" not in text  # the start of any JWT (base64 of '{"')
        for hidden in case.hidden:
            assert hidden not in text
