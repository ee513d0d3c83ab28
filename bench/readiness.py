"""Benchmark 2: readiness lag, the harness's ready moment minus the backend's listening moment.

The reference backend prints ``READY ... listening_at=<epoch>`` the moment it listens (inside its
container too: container and host read the same kernel clock, no time namespace is involved).

* local: ``tasks.environments.local.start_service``; its ``ready_at - listening_at``.
* docker: ``tasks.environments.docker.serve_docker`` as the gate enters it; the moment it yields
  minus the READY line's ``listening_at`` read back from the container's log.
* anchor (docker): ``docker compose up --wait`` does not exist in docker-compose 1.29 (the only
  compose here), so it is emulated on the same stack, in the same rep: the container's
  healthcheck status checked every 500 ms (compose v2's interval, counted from the container's
  start) until ``healthy``, with the compose file's healthcheck settings (interval 5 s: Docker
  20.10 runs the first check 5 s after the start, however soon the service listens). Its checks
  begin once the harness is done, so neither disturbs the other's timing.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bench.figures import Goal, Metric, Sample, below, both, not_run
from bench.procs import ROOT, TMP, log
from tasks.environments.local import start_service, stop_service
from tasks.settings import Secret, Settings, load_settings
from tasks.settings.errors import GateError

if TYPE_CHECKING:
    from docker import DockerClient

COMPOSE_WAIT_POLL = 0.5  # seconds between compose v2's --wait status checks
HEALTHY_BOUND = 40.0  # seconds: start_period 10 s + 3 retries of 5 s, with room
LOCAL_REPS, DOCKER_REPS = 15, 5
QUICK_LOCAL_REPS, QUICK_DOCKER_REPS = 3, 2
LAG_GOAL = below(100, "ms")
ANCHOR = (
    "emulated `docker compose up --wait`: healthcheck polled every 500 ms (v1.29 has no --wait)"
)


def bench_settings() -> Settings:
    reports = TMP / "reports"
    return load_settings(ROOT, {**os.environ, "MC_REPORT_DIR": str(reports)})


def measure_local(settings: Settings, reps: int) -> Metric:
    lags = []
    for rep in range(reps + 1):  # rep 0 is a warm-up: bytecode written once
        secret = Secret(secrets.token_urlsafe(32))
        service = start_service(settings, python=sys.executable, secret=secret)
        try:
            if rep:
                lags.append((service.ready_at - service.listening_at) * 1000)
        finally:
            stop_service(service.process)
            service.log_path.unlink(missing_ok=True)
    return Metric(
        "readiness_lag.local",
        "ms",
        Sample.of(lags),
        goal=LAG_GOAL,
        note="tasks.environments.local.start_service: the READY line on the child's stdout, read "
        "as it comes (no anchor: a process has no healthcheck to wait for)",
        digits=2,
    )


def _epoch(stamp: str) -> float:
    """An engine timestamp (RFC 3339, nanoseconds, Z) as epoch seconds."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    whole = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{frac or 0}")


def wait_healthy(client: DockerClient, container: str) -> float:
    """What ``up --wait`` does after ``up``: the container's health, checked every 500 ms.

    The checks keep compose's schedule, counted from the container's start, but begin only
    once the harness has finished (so neither disturbs the other's timing); the moment of the
    first check that sees ``healthy`` is returned (epoch seconds).
    """
    origin = _epoch(client.api.inspect_container(container)["State"]["StartedAt"])
    deadline = time.time() + HEALTHY_BOUND
    while time.time() < deadline:
        tick = origin + math.ceil((time.time() - origin) / COMPOSE_WAIT_POLL) * COMPOSE_WAIT_POLL
        time.sleep(max(0.0, tick - time.time()))
        state = client.api.inspect_container(container)["State"]
        health = (state.get("Health") or {}).get("Status")
        if health == "healthy":
            return time.time()
        if health == "unhealthy" or state.get("Status") in {"exited", "dead"}:
            raise RuntimeError(f"compose --wait emulation: {state.get('Status')}, {health}")
        time.sleep(0.001)  # past this tick
    raise RuntimeError(f"compose --wait emulation: not healthy within {HEALTHY_BOUND:g}s")


def _listening_at(client: DockerClient, container: str) -> float:
    raw = bytes(client.api.logs(container, stdout=True, stderr=False)).decode(errors="replace")
    for line in raw.splitlines():
        if line.startswith("READY "):
            fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
            return float(fields["listening_at"])
    raise RuntimeError(f"no READY line in the log of container {container}")


def measure_docker(settings: Settings, reps: int) -> Metric:
    import docker  # noqa: PLC0415 - only when Docker is measured

    from tasks.environments.docker import serve_docker  # noqa: PLC0415

    client = docker.from_env(timeout=30)
    lags: list[float] = []
    anchor: list[float] = []
    lines: list[str] = []
    try:
        for _ in range(reps):
            with serve_docker(settings, log=lines.append, reason="bench") as target:
                ready_at = time.time()
                container = target.details["container"]
                listening_at = _listening_at(client, container)
                lags.append((ready_at - listening_at) * 1000)
                anchor.append((wait_healthy(client, container) - listening_at) * 1000)
    finally:
        client.close()
    return Metric(
        "readiness_lag.docker",
        "ms",
        Sample.of(lags),
        ANCHOR,
        Sample.of(anchor),
        both(LAG_GOAL, Goal("<= 0.2x the anchor", lambda _v, r: r is not None and r <= 0.2)),
        "tasks.environments.docker.serve_docker (health + WebSocket handshake probes, backoff from "
        "50 ms); listening moment from the container's READY line. The anchor is an emulation on "
        "the same stack and rep, since compose 1.29 has no --wait: the healthcheck status read on "
        "compose v2's 500 ms schedule; with the compose file's interval of 5 s the first "
        "healthcheck runs 5 s after the container starts",
    )


def measure(quick: bool, docker_usable: str | None) -> list[Metric]:
    """``docker_usable``: None when Docker can be measured, else why not."""
    settings = bench_settings()
    local_reps, docker_reps = (
        (QUICK_LOCAL_REPS, QUICK_DOCKER_REPS) if quick else (LOCAL_REPS, DOCKER_REPS)
    )
    log(f"readiness: {local_reps} local start(s)")
    metrics = [measure_local(settings, local_reps)]
    if docker_usable is not None:
        metrics.append(not_run("readiness_lag.docker", "ms", docker_usable))
        return metrics
    log(f"readiness: {docker_reps} compose bring-up(s), each waited until healthy (~6 s)")
    try:
        metrics.append(measure_docker(settings, docker_reps))
    except GateError as exc:
        metrics.append(not_run("readiness_lag.docker", "ms", str(exc).splitlines()[0]))
    return metrics
