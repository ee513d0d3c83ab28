"""Benchmark 7: the latency the suite reports is the backend's own.

For each shipped dialect, one reference backend (its default pace, ``--delay 0.02``), and
alternately in each rep:

* the suite as it runs (``pytest tests/mission_critical``, every check, MC_REPORT_DATA): its
  reported p50 and p95 from a run's request to ``agent_started`` and to ``agent_completed``;
* the anchor: ``bench.bare_client``, no validation and no probes of its own, with the same load
  on the same backend: as many connections as the suite's timed checks opened in that rep, then
  as many runs at once as they started (the suite, too, asks for its runs once its connections
  are open); its p50 and p95 by the same nearest rank.

Each figure is the median over the reps. The goal: the suite's figure within 10 % or 2 ms
(whichever is larger) of the anchor's. At 0b418ea the frame-size check's 16 MiB frame (netra)
was parsed while the runs were timed, and netra's reported p95 to agent_started was ~5-20x the
backend's own.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass

from bench.figures import Goal, Metric, Sample
from bench.procs import ROOT, TMP, log, run_backend, run_child, suite_environ
from tests.mission_critical.engine.latency import summarize

DIALECTS = ("reference", "netra")
METRICS = ("agent_started", "agent_completed")
PERCENTILES = ("p50", "p95")
CHILD_TIMEOUT = 120.0
SHARE, FLOOR_MS = 0.10, 2.0  # the goal: within 10 % or 2 ms of the anchor, whichever is larger
ANCHOR = (
    "bare websockets client on the same backend: as many connections open and then as many "
    "runs at once as the suite's timed phase had in the same rep, no probes of its own"
)


@dataclass(frozen=True)
class Rep:
    figures: dict[str, dict[str, float]]  # metric -> percentile -> ms
    runs: int  # runs the figures are over (the suite's: its timed runs)
    connections: int = 0  # the suite's: greeted connections its timed checks opened


def run_suite(url: str, http: str, secret: str, dialect: str, label: str) -> Rep:
    data = TMP / f"latency-{label}.json"
    data.unlink(missing_ok=True)
    env = suite_environ(
        url, http, secret, "latency benchmark", MC_REPORT_DATA=str(data), MC_CONTRACT=dialect
    )
    argv = [sys.executable, "-m", "pytest", "tests/mission_critical", "-p", "no:cacheprovider"]
    child = run_child([*argv, "-q"], timeout=CHILD_TIMEOUT, env=env)
    if child.returncode != 0 or not data.is_file():
        tail = "\n".join(child.output.strip().splitlines()[-15:])
        raise RuntimeError(f"the suite ({dialect}) did not pass against the clean backend:\n{tail}")
    document = json.loads(data.read_text(encoding="utf-8"))
    summary = document["latency"]["summary"]
    figures = {m: {p: float(summary[m][p]) for p in PERCENTILES} for m in METRICS}
    timed = [check for check in document["checks"] if check["phase"] == "timed"]
    connections = sum(check["connections"] for check in timed)
    return Rep(figures, int(summary["agent_started"]["count"]), connections)


def run_anchor(url: str, secret: str, dialect: str, load: Rep) -> Rep:
    """The bare client with the suite's load of that rep: as many runs, on as many connections."""
    env = {**os.environ, "BENCH_JWT_SECRET": secret, "PYTHONPATH": str(ROOT)}
    runs, idle = load.runs, max(0, load.connections - load.runs)
    argv = [sys.executable, "-m", "bench.bare_client", url, str(runs), dialect, str(idle)]
    child = run_child(argv, timeout=CHILD_TIMEOUT, env=env)
    lines = child.output.strip().splitlines()
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"the bare client ({dialect}) failed: {child.output[-800:]}")
    facts = json.loads(lines[-1])
    figures = {}
    for metric in METRICS:
        if len(facts[metric]) != runs:
            raise RuntimeError(f"the bare client got {len(facts[metric])} {metric} of {runs} runs")
        stat = summarize(facts[metric])
        figures[metric] = {p: float(stat[p] or 0.0) for p in PERCENTILES}
    return Rep(figures, runs)


def within_goal() -> Goal:
    def check(value: float, ratio: float | None) -> bool:
        if not ratio:  # no anchor (or a zero figure): nothing to be within
            return False
        anchor = value / ratio
        return abs(value - anchor) <= max(SHARE * anchor, FLOOR_MS)

    return Goal(f"within {SHARE:.0%} or {FLOOR_MS:g} ms of the anchor", check)


def measure_dialect(dialect: str, reps: int, secret: str) -> list[Metric]:
    suite: list[Rep] = []
    bare: list[Rep] = []
    stderr = TMP / f"latency-{dialect}.log"
    extra = ("--dialect", dialect)
    with run_backend(sys.executable, secret, delay=0.02, stderr=stderr, extra=extra) as backend:
        warm = run_suite(backend.ws_url, backend.http_url, secret, dialect, f"{dialect}-warm")
        run_anchor(backend.ws_url, secret, dialect, warm)  # warm-up: imports, bytecode
        for index in range(reps):
            rep = run_suite(backend.ws_url, backend.http_url, secret, dialect, f"{dialect}-{index}")
            suite.append(rep)
            bare.append(run_anchor(backend.ws_url, secret, dialect, rep))
            log(
                f"latency: {dialect} #{index + 1}: suite p95 started "
                f"{rep.figures['agent_started']['p95']:.1f} ms, bare "
                f"{bare[-1].figures['agent_started']['p95']:.1f} ms ({rep.runs} runs)"
            )
    runs = Sample.of(r.runs for r in suite).median
    return [
        Metric(
            f"latency_exact.{dialect}.{metric}.{percentile}",
            "ms",
            Sample.of(r.figures[metric][percentile] for r in suite),
            ANCHOR,
            Sample.of(r.figures[metric][percentile] for r in bare),
            within_goal(),
            f"the suite's reported {percentile} from a run's request to {metric} (its data "
            f"file), over its timed runs ({runs:.0f} per rep), {dialect} dialect, backend at "
            f"--delay 0.02",
            digits=1,
        )
        for metric in METRICS
        for percentile in PERCENTILES
    ]


def measure(quick: bool) -> list[Metric]:
    secret = secrets.token_urlsafe(32)
    reps = 3 if quick else 15  # one suite's figures move with the machine: a median of many
    metrics: list[Metric] = []
    for dialect in DIALECTS:
        log(f"latency: {dialect}, {reps} rep(s) of the suite and of the bare client")
        metrics += measure_dialect(dialect, reps, secret)
    return metrics
