"""Benchmark 6: the suite's wall time at an agent's latency, all checks at once vs one by one.

For each backend (the reference one at its default delay, at ``--delay 0.5`` and ``1.5``, with
``--fault never_answer``, and, the worst case found, speaking netra with ``--fault
nest_payload``: no event can be routed, so no run ever completes), alternately in each rep:

* the suite as it runs: ``pytest tests/mission_critical`` with every check at once;
* the anchor: the same suite with ``MC_CONCURRENCY=1`` (the checks one after another). At the
  default delay the anchor is instead the suite as it was before its checks ran at once (commit
  ANCHOR_COMMIT, taken out of this repository's history into bench/tmp): the issue's "today's
  sequential suite", measured in the same run. For the worst case the anchor is the suite as it
  was before its checks shared one deadline (commit BOUND_COMMIT, likewise): it took two run
  bounds there.

Wall time is the pytest process's, spawn to exit (interpreter and collection included: what a
person waits for). One run's own latency at that delay comes from the same rep's data file (the
p50 time from a request to its ``agent_completed``), so the goal of the issue, wall <= 2 x one
run's latency + 1 s, is checked against the latency measured beside it. The bounds are the
defaults (MC_TIMEOUT 10 s, MC_RUN_TIMEOUT 120 s, MC_GRACE 1 s): a backend that never answers
must be judged within MC_RUN_TIMEOUT + 3 s, and one whose runs never complete within
MC_RUN_TIMEOUT + MC_GRACE + 3 s.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.figures import Goal, Metric, Sample, at_most, not_run
from bench.procs import ROOT, TMP, log, run_backend, run_child, suite_environ

Case = Literal["default", "delay_0_5", "delay_1_5", "never_answer", "nest_payload"]
BACKEND_ARGS: dict[Case, tuple[str, ...]] = {
    "default": (),
    "delay_0_5": ("--delay", "0.5"),
    "delay_1_5": ("--delay", "1.5"),
    "never_answer": ("--fault", "never_answer"),
    "nest_payload": ("--dialect", "netra", "--fault", "nest_payload"),
}
SUITE_ENV: dict[Case, dict[str, str]] = {"nest_payload": {"MC_CONTRACT": "netra"}}
FAILING: frozenset[Case] = frozenset({"never_answer", "nest_payload"})
RUN_TIMEOUT = 120.0  # the default MC_RUN_TIMEOUT
GRACE = 1.0  # the default MC_GRACE
CHILD_TIMEOUT = 2 * RUN_TIMEOUT + 60
SEQUENTIAL = "the same suite with MC_CONCURRENCY=1 (checks one after another), same backend"
ANCHOR_COMMIT = "fa8c59a"  # the last commit whose suite ran its checks one after another
BOUND_COMMIT = "0b418ea"  # the last commit whose checks chained their runs' bounds
OLD_SUITE = (
    f"the suite as of {ANCHOR_COMMIT} (checks one after another, 0.3 s of grace after each), "
    f"same backend"
)
UNBOUNDED_SUITE = (
    f"the suite as of {BOUND_COMMIT} (a user's runs one after another each waited out its own "
    f"bound), same backend"
)
OLD_PATHS: dict[str, tuple[str, ...]] = {  # what each commit's suite needs to run
    ANCHOR_COMMIT: ("tests/mission_critical",),
    BOUND_COMMIT: ("tests/mission_critical", "contract", "pyproject.toml"),
}


@dataclass(frozen=True)
class Rep:
    wall: float
    passed: bool
    run_latency: float | None  # seconds: p50 from request to agent_completed


def old_suite(commit: str = ANCHOR_COMMIT) -> Path | str:
    """That commit's suite, unpacked under bench/tmp; or why it cannot be had."""
    where = TMP / f"suite-{commit}"
    if (where / "tests" / "mission_critical" / "conftest.py").is_file():
        return where
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, *OLD_PATHS[commit]],
            capture_output=True,
            timeout=60,
            check=True,
        )
        subprocess.run(
            ["tar", "-x", "-C", str(where)], input=archive.stdout, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the anchor commit {commit} cannot be had from git here ({exc})"
    return where


def run_old_suite(where: Path, url: str, http: str, secret: str, case: Case) -> Rep:
    env = suite_environ(url, http, secret, "concurrency benchmark (the old suite)")
    env.update(SUITE_ENV.get(case, {}))
    del env["PYTHONPATH"]  # this checkout's tests/ must not stand in for the old one
    argv = [sys.executable, "-m", "pytest", "tests/mission_critical", "-p", "no:cacheprovider"]
    child = run_child([*argv, "-q"], timeout=CHILD_TIMEOUT, env=env, cwd=where)
    return Rep(child.seconds, child.returncode == 0, None)


def run_suite(url: str, http: str, secret: str, case: Case, *, sequential: bool, label: str) -> Rep:
    data = TMP / f"concurrency-{label}.json"
    data.unlink(missing_ok=True)
    env = suite_environ(url, http, secret, "concurrency benchmark", MC_REPORT_DATA=str(data))
    env.update(SUITE_ENV.get(case, {}))
    if sequential:
        env["MC_CONCURRENCY"] = "1"
    argv = [sys.executable, "-m", "pytest", "tests/mission_critical", "-p", "no:cacheprovider"]
    child = run_child([*argv, "-q"], timeout=CHILD_TIMEOUT, env=env)
    latency = None
    if data.is_file():
        summary = json.loads(data.read_text(encoding="utf-8"))["latency"]["summary"]
        p50 = summary["agent_completed"]["p50"]
        latency = None if p50 is None else p50 / 1000
    return Rep(child.seconds, child.returncode == 0, latency)


def measure_case(
    case: Case, reps: int, secret: str, old: Path | None = None
) -> tuple[list[Rep], list[Rep]]:
    """(all at once, the anchor) per rep, alternating; the anchor is the `old` suite if given,
    else the same suite one check after another."""
    python = sys.executable
    stderr = TMP / f"concurrency-{case}.log"
    concurrent: list[Rep] = []
    anchor: list[Rep] = []
    extra = BACKEND_ARGS[case]
    with run_backend(python, secret, delay=0.02, stderr=stderr, extra=extra) as backend:
        urls = (backend.ws_url, backend.http_url, secret)
        for index in range(reps):
            rep = run_suite(*urls, case, sequential=False, label=f"{case}-{index}-all")
            concurrent.append(rep)
            log(f"concurrency: {case} all at once #{index + 1}: {rep.wall:.2f} s")
            if old is not None:
                rep = run_old_suite(old, *urls, case)
            else:
                rep = run_suite(*urls, case, sequential=True, label=f"{case}-{index}-seq")
            anchor.append(rep)
            mode = (
                f"the {old.name.removeprefix('suite-')} suite" if old is not None else "one by one"
            )
            log(f"concurrency: {case} {mode} #{index + 1}: {rep.wall:.2f} s")
    return concurrent, anchor


def latency_goal(latency: float) -> Goal:
    bound = 2 * latency + 1
    return Goal(
        f"<= 2 x one run ({latency:.2f} s) + 1 s = {bound:.2f} s",
        lambda value, _ratio: value <= bound,
    )


def ratio_goal(share: float) -> Goal:
    """value / anchor <= share (a wall time: a fraction of the anchor's)."""
    return Goal(
        f"<= {share:g}x the anchor",
        lambda _value, ratio: ratio is not None and ratio <= share,
    )


def case_metric(case: Case, concurrent: list[Rep], sequential: list[Rep]) -> Metric:
    walls = Sample.of(r.wall for r in concurrent)
    anchor = Sample.of(r.wall for r in sequential)
    anchor_text = {"default": OLD_SUITE, "nest_payload": UNBOUNDED_SUITE}.get(case, SEQUENTIAL)
    verdicts = "every rep" if all(r.passed for r in concurrent) else "NOT every rep"
    if case in FAILING:
        failed = "every rep" if not any(r.passed for r in concurrent) else "NOT every rep"
        note = f"fails ({failed} exit 1, as it must); MC_TIMEOUT 10 s, MC_RUN_TIMEOUT 120 s"
        if case == "nest_payload":
            note += (
                ", MC_GRACE 1 s; netra, event fields under `payload`: no run can be routed "
                "to its events, so none completes"
            )
        bound = RUN_TIMEOUT + 3 if case == "never_answer" else RUN_TIMEOUT + GRACE + 3
        goal = at_most(bound, "s")
        verdicts_ok = not any(r.passed for r in concurrent)
        note = note if verdicts_ok else "a rep PASSED against a backend that breaks delivery"
        return Metric(f"concurrency.{case}.wall", "s", walls, anchor_text, anchor, goal, note, 2)
    latencies = [r.run_latency for r in concurrent if r.run_latency is not None]
    latency = Sample.of(latencies).median if latencies else float("nan")
    note = f"passes in {verdicts}; one run's own latency {latency:.2f} s (p50, same reps)"
    if latencies:
        note += f"; wall / one run = {walls.median / latency:.1f}"
    goal = ratio_goal(0.5) if case == "default" else latency_goal(latency)
    return Metric(f"concurrency.{case}.wall", "s", walls, anchor_text, anchor, goal, note, 2)


def measure(quick: bool) -> list[Metric]:
    secret = secrets.token_urlsafe(32)
    reps = 1 if quick else 3
    metrics = []
    for case in BACKEND_ARGS:
        count = 1 if case in {*FAILING, "delay_1_5"} else reps
        old = None
        if case in {"default", "nest_payload"}:
            found = old_suite(ANCHOR_COMMIT if case == "default" else BOUND_COMMIT)
            if isinstance(found, str):
                metrics.append(not_run(f"concurrency.{case}.wall", "s", found))
                continue
            old = found
        concurrent, anchor = measure_case(case, count, secret, old)
        metrics.append(case_metric(case, concurrent, anchor))
    return metrics
