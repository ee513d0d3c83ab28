"""Benchmark 1: how fast the daemon check decides that Docker is not usable.

Two cases, each rep in a fresh interpreter (``bench.unavailable_child``) so the SDK import counts:
the daemon socket is missing (DOCKER_HOST=unix:///nonexistent), and the daemon is hung (our own
unix socket that accepts and never answers). The hung anchor waits out the SDK's 60 s default, so
its reps run side by side: they are started first, and the other reps are measured while they
sleep in their read (no CPU of theirs competes).
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from bench.figures import Goal, Metric, Sample, below
from bench.procs import ROOT, TMP, HungDaemon, log, run_child
from tasks.settings import load_settings

MISSING = "unix:///nonexistent"
CHILD_TIMEOUT = 30.0
ANCHOR_HUNG_TIMEOUT = 120.0  # the SDK's default is 60 s
ANCHOR = "docker.from_env() with SDK defaults, then .ping() (as testcontainers)"


@dataclass(frozen=True)
class Reps:
    missing: int
    hung: int
    anchor_missing: int
    anchor_hung: int


FULL = Reps(missing=15, hung=7, anchor_missing=15, anchor_hung=3)
QUICK = Reps(missing=5, hung=2, anchor_missing=5, anchor_hung=1)


@dataclass(frozen=True)
class Check:
    ms: float
    verdict: str


def _check(who: str, docker_host: str, expect: str, timeout: float = CHILD_TIMEOUT) -> Check:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    env.pop("DOCKER_CONTEXT", None)
    child = run_child(
        [sys.executable, "-m", "bench.unavailable_child", who], timeout=timeout, env=env, cwd=ROOT
    )
    lines = child.output.strip().splitlines()
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"the {who} check failed (exit {child.returncode}): {child.output!r}")
    answer = json.loads(lines[-1])
    if answer["usable"] or expect not in answer["verdict"].lower():
        raise RuntimeError(f"the {who} check decided {answer['verdict']!r}; expected {expect!r}")
    return Check(float(answer["ms"]), str(answer["verdict"]))


def _series(who: str, docker_host: str, expect: str, reps: int) -> list[Check]:
    return [_check(who, docker_host, expect) for _ in range(reps)]


def measure(quick: bool) -> list[Metric]:
    reps = QUICK if quick else FULL
    bound = load_settings(ROOT).docker_daemon_timeout
    _check("harness", MISSING, "no docker daemon socket")  # warm-up: bytecode written once
    _check("anchor", MISSING, "no such file")
    with (
        HungDaemon(TMP / f"hung-{os.getpid()}.sock") as hung,
        ThreadPoolExecutor(max_workers=reps.anchor_hung) as pool,
    ):
        log(f"docker unavailable: {reps.anchor_hung} anchor check(s) against a hung daemon (~60 s)")
        slow: list[Future[Check]] = [
            pool.submit(_check, "anchor", hung.url, "timed out", ANCHOR_HUNG_TIMEOUT)
            for _ in range(reps.anchor_hung)
        ]
        if not hung.wait_for(reps.anchor_hung, CHILD_TIMEOUT):
            raise RuntimeError("the hung-daemon anchor checks never connected")
        log("docker unavailable: harness and anchor on a missing socket, harness on a hung one")
        missing = _series("harness", MISSING, "no docker daemon socket", reps.missing)
        anchor_missing = _series("anchor", MISSING, "no such file", reps.anchor_missing)
        hung_checks = _series("harness", hung.url, "did not answer", reps.hung)
        anchor_hung = [future.result() for future in slow]
    common = "a fresh interpreter per rep; clock from the call to the verdict, SDK import included"
    limit = bound * 1000 + 50
    return [
        Metric(
            "docker_unavailable.missing_socket",
            "ms",
            Sample.of(c.ms for c in missing),
            ANCHOR,
            Sample.of(c.ms for c in anchor_missing),
            below(50, "ms"),
            f"{common}. Harness verdict: {missing[0].verdict[:90]}",
        ),
        Metric(
            "docker_unavailable.hung_daemon",
            "ms",
            Sample.of(c.ms for c in hung_checks),
            ANCHOR,
            Sample.of(c.ms for c in anchor_hung),
            Goal(
                f"< {limit:g} ms (MC_DOCKER_DAEMON_TIMEOUT {bound:g} s + 50 ms)",
                below(limit, "ms").check,
            ),
            f"{common}; the anchor's {len(anchor_hung)} reps ran side by side. "
            f"Harness verdict: {hung_checks[0].verdict[:90]}",
        ),
    ]
