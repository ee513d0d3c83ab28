"""Benchmarks 3 and 5: time to verdict, and the soak, from the same consecutive gate runs.

Each run is ``python -m nox -s mission_critical-<env>`` as a user types it (the noxfile reuses
venvs; the image is cached after the untimed warm-up run), in a clean environment (no MC_*
variables but MC_REPORT_DIR, a per-run directory, so its JSON report is found, and for docker
MC_DOCKER_COMPOSE). Docker is measured once per compose family (``docker_v2``, ``docker_v1``),
their runs alternating so that both see the same machine. Phases come from that report, the
tests' own time from its JUnit file, the wall time from here. After every run: no process
carrying the run's marker variable, no container, network or volume of its stack.

    overhead = wall - bring-up - the tests' time (nox, settings, choice, pytest start, teardown)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bench.figures import Metric, Sample, at_most, below, none_at_all, not_run
from bench.procs import ROOT, TMP, log, processes_marked, run_child
from tasks.environments.docker.labels import LABEL_OWNER_PID, LABEL_PROJECT

if TYPE_CHECKING:
    from docker import DockerClient

Env = Literal["local", "docker_v2", "docker_v1", "docker_team_v2", "docker_team_v1"]
DOCKER: tuple[Env, ...] = ("docker_v2", "docker_v1")
TEAM: tuple[Env, ...] = ("docker_team_v2", "docker_team_v1")  # bench/team.py's
COMPOSE: dict[Env, str] = {  # MC_DOCKER_COMPOSE
    "docker_v2": "v2",
    "docker_v1": "v1",
    "docker_team_v2": "v2",
    "docker_team_v1": "v1",
}
RETIRED = ("time_to_verdict.docker.", "soak.docker.")  # one docker column, before the families
MARKER = "BENCH_RUN"
TIMEOUT = {"local": 300.0} | dict.fromkeys((*DOCKER, *TEAM), 900.0)
PHASES = ("settings", "choice", "bring-up", "suite", "teardown")
OVERHEAD_GOAL = below(1, "s")


@dataclass(frozen=True)
class Run:
    wall: float
    passed: bool
    phases: dict[str, float] = field(default_factory=dict)
    tests: float = 0.0  # the sum of the test cases' own times
    leftovers: tuple[str, ...] = ()
    problem: str = ""
    compose: str = ""  # the summary's compose line (docker)

    @property
    def overhead(self) -> float:
        return self.wall - self.phases.get("bring-up", 0.0) - self.tests


def _tests_time(junit: Path) -> float:
    try:
        root = ET.parse(junit).getroot()  # noqa: S314 - pytest's own output
    except (OSError, ET.ParseError):
        return 0.0
    return sum(float(case.get("time", 0)) for case in root.iter("testcase"))


def _stack_leftovers(client: DockerClient, pid: int) -> list[str]:
    """Containers, networks and volumes of the stacks the nox process ``pid`` owned."""

    def ours(labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        project = labels.get(LABEL_PROJECT, "")
        return labels.get(LABEL_OWNER_PID) == str(pid) or project.startswith(f"mcg-{pid}-")

    found = [
        f"container {c['Id'][:12]}"
        for c in client.api.containers(all=True, filters={"label": LABEL_PROJECT})
        if ours(c.get("Labels"))
    ]
    found += [
        f"network {n['Name']}"
        for n in client.api.networks(filters={"label": LABEL_PROJECT})
        if ours(n.get("Labels"))
    ]
    volumes = client.api.volumes(filters={"label": LABEL_PROJECT}).get("Volumes") or []
    found += [f"volume {v['Name']}" for v in volumes if ours(v.get("Labels"))]
    return found


def _remove_leftovers(client: DockerClient | None, marker: str, pid: int) -> None:
    """So that the next run starts clean (what was found is reported, not hidden)."""
    for line in processes_marked(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    if client is not None:
        from tasks.environments.docker.labels import list_stacks, remove_stack  # noqa: PLC0415

        for stack in list_stacks(client):
            if stack.owner_pid == pid or stack.project.startswith(f"mcg-{pid}-"):
                remove_stack(client, stack)


def run_gate(
    env: Env, label: str, client: DockerClient | None, extra: dict[str, str] | None = None
) -> Run:
    """One ``nox -s mission_critical-<env>``, then what it left behind (``extra``: the team's
    settings and compose variables, for a team's stack)."""
    where = TMP / "runs" / label
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    marker = f"{MARKER}={secrets.token_hex(6)}"
    clean = {"VIRTUAL_ENV", "NOX_CURRENT_SESSION", "PYTHONPATH"}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MC_") and k not in clean}
    environ.update({"MC_REPORT_DIR": str(where), MARKER: marker.split("=", 1)[1]})
    if env in COMPOSE:
        environ["MC_DOCKER_COMPOSE"] = COMPOSE[env]
    environ.update(extra or {})
    session = "mission_critical-" + ("local" if env == "local" else "docker")  # team: docker
    argv = [sys.executable, "-m", "nox", "-s", session]
    child = run_child(argv, timeout=TIMEOUT[env], env=environ, output=where / "nox.out")
    leftovers = processes_marked(marker)
    if client is not None:
        leftovers += _stack_leftovers(client, child.pid)
    if leftovers:
        _remove_leftovers(client, marker, child.pid)
    reports = sorted(p for p in where.glob("mission_critical-*.json") if ".suite" not in p.suffixes)
    summary = json.loads(reports[-1].read_text(encoding="utf-8")) if reports else {}
    passed = child.returncode == 0 and summary.get("verdict") == "PASSED"
    problem = ""
    if not passed:
        last = (child.output.strip().splitlines() or ["(no output)"])[-1]
        problem = f"exit {child.returncode}{' (timed out)' if child.timed_out else ''}: {last}"
    junit = Path(summary.get("junit_path", ""))
    return Run(
        wall=child.seconds,
        passed=passed,
        phases={k: float(v) for k, v in summary.get("phases", {}).items()},
        tests=_tests_time(junit if junit.is_absolute() else ROOT / junit),
        leftovers=tuple(leftovers),
        problem=problem,
        compose=str(summary.get("details", {}).get("compose", "")),
    )


def soak(
    envs: tuple[Env, ...],
    reps: int,
    client: DockerClient | None,
    extra: dict[str, str] | None = None,
) -> dict[Env, list[Run]]:
    """``reps`` runs of each of ``envs``, alternating (after one untimed warm-up run each)."""
    for env in envs:
        log(f"runs: warm-up run of {env} (untimed: venv and image ready)")
        warm = run_gate(env, f"{env}-warmup", client, extra)
        if not warm.passed:
            log(f"runs: WARNING: the warm-up run of {env} failed: {warm.problem}")
    log(f"runs: {reps} consecutive runs of {' and '.join(envs)}")
    runs: dict[Env, list[Run]] = {env: [] for env in envs}
    for index in range(reps):
        for env in envs:
            run = run_gate(env, f"{env}-{index:02d}", client, extra)
            runs[env].append(run)
            state = "ok" if run.passed and not run.leftovers else f"PROBLEM {run.problem}"
            log(f"runs: {env} #{index + 1}: {run.wall:.2f} s, {state} {', '.join(run.leftovers)}")
    return runs


def verdict_metrics(env: Env, runs: list[Run]) -> list[Metric]:
    good = [r for r in runs if r.passed] or runs
    prefix = f"time_to_verdict.{env}"
    composes = sorted({r.compose for r in good if r.compose})
    source = f"{len(good)} passing run(s) of the soak; phases from the gate's JSON report"
    if composes:
        source += "; compose: " + ", ".join(composes)
    metrics = [
        Metric(f"{prefix}.total", "s", Sample.of(r.wall for r in good), note=source, digits=2),
        Metric(
            f"{prefix}.overhead",
            "s",
            Sample.of(r.overhead for r in good),
            goal=OVERHEAD_GOAL,
            note="wall - bring-up - the tests' own time (JUnit): nox start-up and install "
            "check, settings, choice, pytest start-up and collection, teardown",
            digits=2,
        ),
        Metric(
            f"{prefix}.phase.nox",
            "s",
            Sample.of(r.wall - sum(r.phases.values()) for r in good),
            note="wall - the gate's phases: interpreter and nox start-up, venv reuse, install "
            "check, summary",
            digits=2,
        ),
    ]
    for phase in PHASES:
        if phase == "suite":
            metrics.append(
                Metric(
                    f"{prefix}.phase.pytest_start",
                    "s",
                    Sample.of(r.phases.get("suite", 0.0) - r.tests for r in good),
                    note="the suite phase minus its tests: pytest start-up, collection, exit",
                    digits=2,
                )
            )
            metrics.append(
                Metric(f"{prefix}.phase.tests", "s", Sample.of(r.tests for r in good), digits=2)
            )
            continue
        goal = at_most(3, "s") if phase == "teardown" and env in (*DOCKER, *TEAM) else None
        metrics.append(
            Metric(
                f"{prefix}.phase.{phase.replace('-', '_')}",
                "s",
                Sample.of(r.phases.get(phase, 0.0) for r in good),
                goal=goal,
                digits=3,
            )
        )
    return metrics


def soak_metrics(env: Env, runs: list[Run]) -> list[Metric]:
    walls = [r.wall for r in runs]
    spread = statistics.pstdev(walls) if len(walls) > 1 else 0.0
    problems = "; ".join(sorted({r.problem for r in runs if r.problem}))[:300]
    leftovers = "; ".join(sorted({x for r in runs for x in r.leftovers}))[:300]
    return [
        Metric(
            f"soak.{env}.failures",
            "runs",
            Sample.of(0.0 if r.passed else 1.0 for r in runs),
            goal=none_at_all(),
            note=f"{len(runs)} consecutive runs" + (f"; {problems}" if problems else ""),
            digits=0,
            aggregate="sum",
        ),
        Metric(
            f"soak.{env}.leftovers",
            "items",
            Sample.of(float(len(r.leftovers)) for r in runs),
            goal=none_at_all(),
            note="processes with the run's marker, containers/networks/volumes of its stacks"
            + (f"; {leftovers}" if leftovers else ""),
            digits=0,
            aggregate="sum",
        ),
        Metric(
            f"soak.{env}.wall",
            "s",
            Sample.of(walls),
            note=f"spread of wall times: stdev {spread:.2f} s over {len(walls)} runs",
            digits=2,
        ),
    ]


def measure(
    quick: bool, docker_usable: str | None, client: DockerClient | None, composes: dict[str, str]
) -> list[Metric]:
    """``composes``: compose family -> why it cannot be measured here (absent: it can)."""
    local_reps, docker_reps = (5, 3) if quick else (50, 10)
    metrics: list[Metric] = []
    runs = soak(("local",), local_reps, client)["local"]
    metrics += verdict_metrics("local", runs) + soak_metrics("local", runs)
    ready: list[Env] = []
    for env in DOCKER:
        why = docker_usable or composes.get(COMPOSE[env])
        if why is None:
            ready.append(env)
            continue
        names = (f"time_to_verdict.{env}.total", f"soak.{env}.failures")
        metrics += [not_run(name, "s", why) for name in names]
    if ready:
        for env, found in soak(tuple(ready), docker_reps, client).items():
            metrics += verdict_metrics(env, found) + soak_metrics(env, found)
    return metrics
