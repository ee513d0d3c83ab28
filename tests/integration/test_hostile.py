"""The gate against a held-out backend (hostile_backend.py, written from the docs alone): each
misbehaviour once found by hand is a case, and the gate must say no in words that say what to
fix, or, where it was its own figures that were wrong, report them exactly.

Every case runs the real suite (`python -m pytest tests/mission_critical`) as a subprocess
against its own backend process; a few run the whole gate (`gate.judge`, staging aimed at the
backend on loopback) for what the harness shows: the summary, the JUnit XML, the page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tasks import gate
from tasks.settings.errors import GateError, VerdictError

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"READY port=(\d+)")
READY_TIMEOUT = 15.0
SUITE_TIMEOUT = 120.0  # seconds for one suite, from its start
PARALLEL = 6
BOUNDS = {"MC_TIMEOUT": "2", "MC_RUN_TIMEOUT": "8"}  # a failing backend's waits run out
GRACE = 1.0  # MC_GRACE's default
# the suite's own wall (its data file's wall_s) against any backend: MC_RUN_TIMEOUT + MC_GRACE +
# the runner's PHASE_FLOOR (3 s); 0b418ea took two run bounds (16 s here) against nest_payload
WITHIN = float(BOUNDS["MC_RUN_TIMEOUT"]) + GRACE + 3.0
ESCAPED = "\\x1b]0;hostile\\x07\\x1b[2J"  # hostile_backend.ESCAPES as `show` writes it
TWO_FRAMES = (
    "delivered a second error_message (error_code AUTH_FAILED); the dialect allows one error "
    "frame before its close 1008"
)
WRONG_CODE = (
    "delivered error_message with error_code UNAUTHORIZED; the dialect allows AUTH_FAILED "
    "before its close 1008"
)


@dataclass(frozen=True)
class Case:
    name: str
    dialect: str
    misbehave: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    exit_code: int = 1
    says: tuple[str, ...] = ()
    within: float | None = None  # the suite's own wall_s must stay within this


def both(name: str, misbehave: str, *says: str, within: float | None = None) -> list[Case]:
    return [
        Case(f"{dialect}-{name}", dialect, (misbehave,), says=says, within=within)
        for dialect in ("reference", "netra")
    ]


CASES = [
    Case("reference-clean", "reference", exit_code=0),
    Case("netra-clean", "netra", exit_code=0),
    # 2: a backend whose events cannot be routed is judged within one run bound
    *both("nest-payload", "nest_payload", "[delivery]", within=WITHIN),
    # 3: auth holes against the written contract
    *both("accept-no-exp", "accept_no_exp", "[auth]", "expected the no-exp token"),
    Case(
        "netra-auth-frames-twice",
        "netra",
        ("auth_frames_twice",),
        says=(TWO_FRAMES,),
    ),
    Case(
        "netra-wrong-auth-code",
        "netra",
        ("wrong_auth_code",),
        says=(WRONG_CODE,),
    ),
    # 4 and 6: a silent drop of large frames fails, and the failure names MC_MAX_FRAME
    *both(
        "drop-over-8k",
        "drop_over_8k",
        "[frame-size]",
        "expected the 32768-byte start_agent request (a pasted document; the frame limit is "
        "MC_MAX_FRAME=",
        "-byte ping (a frame of exactly the limit) within 2 s; none came",
    ),
    # 6: a timestamp in milliseconds is named as such
    *both("epoch-ms", "epoch_ms", "[schema]", "looks like epoch milliseconds"),
    # 5: a run_id holding terminal escapes is shown escaped in the suite's lines
    Case("reference-escape-run-id", "reference", ("escape_run_id",), says=("[ids]", ESCAPED)),
]
# 1: the gate's own heavy probes must not skew the latency it reports. The backend blocks for
# 0.5 s on any frame over 256 KiB (the frame-size check's 1 MiB / 16 MiB frames): 0b418ea
# timed runs behind that, so its p95 to agent_started exceeded 250 ms and broke the budget.
LATENCY = [
    Case(
        f"{dialect}-slow-big-frames",
        dialect,
        ("slow_big_frames",),
        env=(("MC_LATENCY_STARTED_P95", "0.25"), ("MC_LATENCY_COMPLETED_P95", "0.4")),
        exit_code=0,
    )
    for dialect in ("reference", "netra")
]


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str
    data: dict[str, object]


@dataclass(frozen=True)
class Backend:
    ws_url: str
    http_url: str
    secret: str


@contextmanager
def hostile(dialect: str, *misbehave: str) -> Iterator[Backend]:
    """A hostile_backend process on a free loopback port, stopped afterwards."""
    secret = secrets.token_urlsafe(40)
    command = [sys.executable, "-m", "tests.integration.hostile_backend", "--dialect", dialect]
    command += [arg for name in misbehave for arg in ("--misbehave", name)]
    env = {**os.environ, "HOSTILE_JWT_SECRET": secret}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        began, line = time.monotonic(), ""
        while not (found := READY.match(line)) and time.monotonic() - began < READY_TIMEOUT:
            line = process.stdout.readline().decode()
        assert found, f"the hostile backend never said READY ({command})"
        base = f"127.0.0.1:{found[1]}"
        yield Backend(f"ws://{base}/ws", f"http://{base}", secret)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def run_suite(case: Case, work: Path) -> Result:
    """The suite against the case's backend, to its end (bounded)."""
    data = work / f"{case.name}.data.json"
    with hostile(case.dialect, *case.misbehave) as backend:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MC_", "PYTEST_"))}
        env.update(MC_WS_URL=backend.ws_url, MC_JWT_SECRET=backend.secret, MC_USERS="5")
        env.update(MC_CONTRACT=case.dialect, MC_REPORT_DATA=str(data), MC_ENV="hostile")
        env.update(BOUNDS if case.exit_code else {}, **dict(case.env))
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/mission_critical",
            "-p",
            "no:cacheprovider",
        ]
        done = subprocess.run(
            [*command, "-q", "-rfEs"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SUITE_TIMEOUT,
            check=False,
        )
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    return Result(done.returncode, output, json.loads(data.read_text()) if data.exists() else {})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    work = tmp_path_factory.mktemp("hostile")
    with ThreadPoolExecutor(PARALLEL) as pool:
        jobs = {case.name: pool.submit(run_suite, case, work) for case in CASES}
        found = {name: job.result() for name, job in jobs.items()}
    for case in LATENCY:  # alone: the figures must not carry the other suites' load
        found[case.name] = run_suite(case, work)
    return found


def explain(case: Case, result: Result, problem: str) -> str:
    tail = "\n".join(result.output.splitlines()[-30:])
    return f"{case.name} (exit {result.returncode}): {problem}\n{tail}"


@pytest.mark.parametrize("case", [*CASES, *LATENCY], ids=lambda c: c.name)
def test_the_gate_says_what_to_fix(case: Case, results: dict[str, Result]) -> None:
    result = results[case.name]
    assert result.returncode == case.exit_code, explain(case, result, f"not {case.exit_code}")
    for text in case.says:
        assert text in result.output, explain(case, result, f"never says {text!r}")
    assert "\x1b" not in result.output.replace("\x1b[", "")  # no escape but pytest's colours
    if case.within is not None:
        wall = result.data["wall_s"]
        assert isinstance(wall, float)
        assert wall <= case.within, explain(case, result, f"took {wall} s, over {case.within} s")


@pytest.mark.parametrize("case", LATENCY, ids=lambda c: c.name)
def test_the_heavy_probes_do_not_reach_the_reported_latency(
    case: Case, results: dict[str, Result]
) -> None:
    latency = results[case.name].data["latency"]
    assert isinstance(latency, dict)
    started = latency["summary"]["agent_started"]
    assert started["count"] > 5
    assert started["max"] < 250, explain(case, results[case.name], f"max {started['max']} ms")


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, GateError | None]:
    """The whole gate (staging, aimed at the backend) against a reference backend that stamps
    terminal escapes into its run ids and its version and drops every frame over 8 KiB."""
    reports = tmp_path_factory.mktemp("hostile-gate")
    lines: list[str] = []
    error = None
    misbehave = ("escape_run_id", "escape_version", "drop_over_8k")
    with hostile("reference", *misbehave) as backend:
        environ = {
            "STAGING_WEBSOCKET_URL": backend.ws_url,
            "STAGING_BACKEND_URL": backend.http_url,
            "STAGING_JWT_SECRET": backend.secret,
            "MC_REPORT_DIR": str(reports),
            "MC_USERS": "3",
            "PATH": os.environ["PATH"],
            **BOUNDS,
        }
        try:
            gate.judge(
                "staging", python=sys.executable, log=lines.append, root=ROOT, environ=environ
            )
        except GateError as exc:
            error = exc
    return "\n".join(lines), reports, error


def test_the_page_and_the_summary_show_escapes_escaped(
    gate_run: tuple[str, Path, GateError | None],
) -> None:
    log, reports, _ = gate_run
    (page,) = reports.glob("*.html")
    html = page.read_text(encoding="utf-8")
    written = [p.read_text(encoding="utf-8", errors="replace") for p in reports.iterdir()]
    for text in [log, *written]:
        assert "\x1b" not in text
        assert "\x07" not in text
    assert f"h-1{ESCAPED}" in log  # the summary's backend row
    shown = unescape(html)
    assert f"h-1{ESCAPED}" in shown  # the page's
    assert re.search(rf"'mc-run-[0-9a-f]+{re.escape(ESCAPED)}'", shown)  # a timeline cell


def test_the_pages_verdict_names_the_broken_rules(
    gate_run: tuple[str, Path, GateError | None],
) -> None:
    _, reports, error = gate_run
    assert isinstance(error, VerdictError)
    assert "[ids]" in str(error)
    assert "[frame-size]" in str(error)
    (page,) = reports.glob("*.html")
    html = page.read_text(encoding="utf-8")
    verdict = unescape(html[html.index('<p class="problem">') :].split("</p>", 1)[0])
    assert "[ids]" in verdict
    assert "[frame-size]" in verdict
