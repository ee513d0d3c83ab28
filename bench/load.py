"""Benchmark 4: the concurrent-users check at 100 and 1,000 users, and a bare client beside it.

One reference backend per user count (``--delay 0``: the events come as fast as the backend can
send them, so the client side is what is measured), then alternately, each rep:

* the suite: ``pytest tests/mission_critical -k many_users`` with MC_USERS=N and MC_GRACE=0
  (no listening window after the last event: it would add a fixed 0.3 s of sleep), in a fresh
  process; ``bench.suite_probe`` reports its call time, connection opens and what it judged;
* the anchor: ``bench.bare_client``, the same scenario with no validation.

Peak RSS is each process's own (wait4), interpreter and imports included.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass

from bench.figures import Metric, Sample, below, ratio_at_least
from bench.procs import ROOT, TMP, log, run_backend, run_child, suite_environ

EVENTS_PER_RUN = 6  # agent_started, thinking, tool_executing, tool_completed, thinking, completed
CHILD_TIMEOUT = 180.0
RSS_LIMIT_MIB = 200.0
ANCHOR = "bare websockets client, same scenario, no validation (the library's ceiling here)"


@dataclass(frozen=True)
class Rep:
    events_per_s: float
    connections_per_s: float
    peak_mib: float


def run_suite(url: str, http: str, secret: str, users: int) -> Rep:
    out = TMP / f"probe-{os.getpid()}.json"
    out.unlink(missing_ok=True)
    env = suite_environ(
        url,
        http,
        secret,
        "load benchmark",
        MC_USERS=str(users),
        MC_GRACE="0",
        BENCH_PROBE_OUT=str(out),
    )
    argv = [sys.executable, "-m", "pytest", "tests/mission_critical", "-k", "many_users"]
    argv += ["-p", "no:cacheprovider", "-p", "bench.suite_probe", "-q"]
    child = run_child(argv, timeout=CHILD_TIMEOUT, env=env)
    facts = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    out.unlink(missing_ok=True)
    calls = facts.get("calls", [])
    expected = users * EVENTS_PER_RUN
    if (
        child.returncode != 0
        or len(calls) != 1
        or calls[0]["outcome"] != "passed"
        or facts["violations"]
        or facts["events"] != expected
        or facts["opens"] != users
    ):
        tail = "\n".join(child.output.strip().splitlines()[-15:])
        raise RuntimeError(f"the suite at {users} users did not pass cleanly: {facts}\n{tail}")
    return Rep(expected / calls[0]["s"], users / facts["open_s"], child.peak_mib)


def run_anchor(url: str, secret: str, users: int) -> Rep:
    env = {**os.environ, "BENCH_JWT_SECRET": secret, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "bench.bare_client", url, str(users)]
    child = run_child(argv, timeout=CHILD_TIMEOUT, env=env)
    lines = child.output.strip().splitlines()
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"the bare client at {users} users failed: {child.output[-800:]}")
    facts = json.loads(lines[-1])
    if facts["events"] != users * EVENTS_PER_RUN:
        raise RuntimeError(f"the bare client got {facts['events']} events from {users} runs")
    return Rep(facts["events"] / facts["s"], users / facts["open_s"], child.peak_mib)


def measure_users(users: int, reps: int) -> list[Metric]:
    secret = secrets.token_urlsafe(32)
    suite: list[Rep] = []
    bare: list[Rep] = []
    with run_backend(sys.executable, secret, delay=0, stderr=TMP / "load-backend.log") as backend:
        run_anchor(backend.ws_url, secret, 10)  # warm-up: lazy imports, bytecode written once
        run_suite(backend.ws_url, backend.http_url, secret, 10)
        for _ in range(reps):
            suite.append(run_suite(backend.ws_url, backend.http_url, secret, users))
            bare.append(run_anchor(backend.ws_url, secret, users))
    prefix = f"throughput.users_{users}"
    share = ratio_at_least(0.5)
    return [
        Metric(
            f"{prefix}.events_per_s",
            "events/s",
            Sample.of(r.events_per_s for r in suite),
            ANCHOR,
            Sample.of(r.events_per_s for r in bare),
            share,
            f"{users} users x {EVENTS_PER_RUN} events, each judged by the suite (rules + JSON "
            "Schema); time = the test's call phase (tokens minted, connect, run, close, judge)",
            digits=0,
        ),
        Metric(
            f"{prefix}.connections_per_s",
            "conn/s",
            Sample.of(r.connections_per_s for r in suite),
            ANCHOR,
            Sample.of(r.connections_per_s for r in bare),
            share,
            "connections opened at once: handshake with a token + the greeting, first start "
            "to last open",
            digits=0,
        ),
        Metric(
            f"{prefix}.peak_rss",
            "MiB",
            Sample.of(r.peak_mib for r in suite),
            "the bare client's process",
            Sample.of(r.peak_mib for r in bare),
            below(RSS_LIMIT_MIB, "MiB") if users >= 1000 else None,
            "the pytest process running the check (interpreter, pytest, jsonschema included)",
        ),
    ]


def measure(quick: bool) -> list[Metric]:
    metrics: list[Metric] = []
    for users in (100, 1000):
        reps = 2 if quick else (9 if users < 1000 else 5)  # 100 users: short, so noisier
        log(f"load: {users} users, {reps} rep(s) of the suite and of the bare client")
        metrics += measure_users(users, reps)
    return metrics
