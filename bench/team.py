"""Benchmark 6: the team's own backend (tests/team_backend/), as a command and as a compose stack.

* ``readiness_lag.local_command``: ``tasks.environments.local.command.start_command`` on a port
  picked beforehand, while a thread here connects to that port every millisecond; the harness's
  ready moment minus the moment the port first accepted (the command has no READY line: this
  is the lag of the readiness probes themselves, health then a greeted handshake).
* ``bring_up.docker_team_v2``: ``serve_docker`` on the team's stack as the gate enters it
  (compose ``config``, checks, the sweep, ``compose build`` (cached), ``up``, readiness), beside
  ``docker compose up -d --build --wait`` on the same stack in the same rep (what a team types
  to have it built, started and its healthchecks passed); each torn down before the next.
  Compose v1 has no ``--wait``: measured with v2 only.
* ``time_to_verdict.docker_team_<family>``: whole ``nox -s mission_critical-docker`` runs on the
  team's stack, their overhead (wall - bring-up - the tests' time) beside ours.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from bench.figures import Goal, Metric, Sample, below, not_run
from bench.procs import ROOT, TMP, log
from bench.runs import TEAM, soak, soak_metrics, verdict_metrics
from tasks.environments.local.command import start_command
from tasks.environments.local.process import stop_group
from tasks.settings import Secret, load_settings
from tests.integration.team_backend import docker_profile, free_port, local_profile

if TYPE_CHECKING:
    from docker import DockerClient

    from tasks.environments.docker.engine import Engine

LOCAL_REPS, DOCKER_REPS, SOAK_REPS = 15, 5, 10
QUICK = (3, 2, 2)
LAG_GOAL = below(100, "ms")
WAIT_ANCHOR = "`docker compose up -d --build --wait` on the same stack, same rep"


def _first_accept(port: int, stop: threading.Event, seen: list[float]) -> None:
    """Connect to ``port`` every millisecond; the moment it first accepts (epoch seconds)."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                seen.append(time.time())
                return
        except OSError:
            time.sleep(0.001)


def measure_local_command(reps: int) -> Metric:
    environ = {**os.environ, **local_profile(), "MC_REPORT_DIR": str(TMP / "reports")}
    settings = load_settings(ROOT, environ)
    lags = []
    for rep in range(reps + 1):  # rep 0 is a warm-up: bytecode written once
        port, stop = free_port(), threading.Event()
        seen: list[float] = []
        poller = threading.Thread(target=_first_accept, args=(port, stop, seen), daemon=True)
        poller.start()
        started = start_command(
            settings, secret=Secret(secrets.token_urlsafe(32)), log=lambda _: None, port=port
        )
        try:
            poller.join(timeout=5)
            if rep and seen:
                lags.append((started.ready.at - seen[0]) * 1000)
        finally:
            stop.set()
            stop_group(started.process)
            started.log_path.unlink(missing_ok=True)
    return Metric(
        "readiness_lag.local_command",
        "ms",
        Sample.of(lags),
        goal=LAG_GOAL,
        note="tasks.environments.local.command.start_command (uvicorn, one worker): the moment "
        "its readiness probes passed minus the moment its port first accepted a connection "
        "(polled every 1 ms); the probes pause 20 ms doubling to 100 ms between tries",
        digits=1,
    )


def _compose_up_wait(profile: dict[str, str], project: str) -> float:
    """``docker compose up -d --build --wait`` on the team's stack; seconds; then ``down``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({k: v for k, v in profile.items() if not k.startswith("MC_")})
    env["JWT_SECRET_KEY"] = secrets.token_urlsafe(32)
    head = ["docker", "compose", "-p", project, "-f", str(ROOT / profile["MC_DOCKER_COMPOSE_FILE"])]
    start = time.perf_counter()
    try:
        subprocess.run(
            [*head, "up", "-d", "--build", "--wait"], env=env, check=True, timeout=300,
            capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - start
    finally:
        subprocess.run(
            [*head, "down", "-v", "--remove-orphans", "-t", "3"], env=env, timeout=120,
            capture_output=True, check=False,
        )  # fmt: skip


def measure_docker_bring_up(profile: dict[str, str], reps: int) -> Metric:
    from tasks.environments.docker import serve_docker  # noqa: PLC0415

    environ = {
        **os.environ,
        **profile,
        "MC_DOCKER_COMPOSE": "v2",
        "MC_REPORT_DIR": str(TMP / "reports"),
    }
    settings = load_settings(ROOT, environ)
    harness, anchor = [], []
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in profile.items() if not k.startswith("MC_")})
    try:
        for rep in range(reps + 1):  # rep 0 warms the build caches of both
            start = time.perf_counter()
            with serve_docker(settings, log=lambda _: None, reason="bench"):
                took = time.perf_counter() - start
            waited = _compose_up_wait(profile, f"mcg-{os.getpid()}-bench{rep}")
            if rep:
                harness.append(took)
                anchor.append(waited)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Metric(
        "bring_up.docker_team_v2",
        "s",
        Sample.of(harness),
        WAIT_ANCHOR,
        Sample.of(anchor),
        Goal("<= 1x the anchor", lambda _v, ratio: ratio is not None and ratio <= 1),
        "serve_docker on tests/team_backend/compose.yaml (compose v2), from the call to the "
        "moment it yields a ready backend: config and checks, the sweep, compose build "
        "(cached), up, health + a greeted handshake. The anchor builds, starts and waits for "
        "the store's healthcheck (the backend has none: running counts) and knows nothing of "
        "the backend's readiness",
        digits=2,
    )


def measure(
    quick: bool, docker_usable: str | None, client: DockerClient | None, composes: dict[str, str]
) -> list[Metric]:
    local_reps, docker_reps, soak_reps = QUICK if quick else (LOCAL_REPS, DOCKER_REPS, SOAK_REPS)
    log(f"team: {local_reps} starts of the team's command")
    metrics = [measure_local_command(local_reps)]
    if docker_usable is not None or client is None:
        why = docker_usable or "no Docker client"
        return [*metrics, not_run("bring_up.docker_team_v2", "s", why)]
    from tasks.environments.docker.engine import connect_engine  # noqa: PLC0415

    engine: Engine = connect_engine(5.0)
    try:
        profile = docker_profile(engine)
    finally:
        engine.client.close()
    if "v2" in composes:
        metrics.append(not_run("bring_up.docker_team_v2", "s", composes["v2"]))
    else:
        log(f"team: {docker_reps} bring-ups of the team's stack, beside compose up --wait")
        metrics.append(measure_docker_bring_up(profile, docker_reps))
    ready = tuple(env for env in TEAM if env.rsplit("_", 1)[1] not in composes)
    for env, runs in soak(ready, soak_reps, client, profile).items():
        metrics += verdict_metrics(env, runs) + soak_metrics(env, runs)
    return metrics
