"""The docker environment as a gate run sees it: observed for auto, served, swept.

    observe_docker(settings) -> Observation        daemon (bounded) + compose, for auto
    serve_docker(settings, *, log, reason)         build, up, ready, yield Target, down (always)
    sweep_stale(settings, log) -> int              remove stacks that killed runs left behind

A stack is one compose project named ``mcg-<pid>-<random>`` (never a fixed container name), its
port published on 127.0.0.1 with an ephemeral host port that is looked up after the start. Its
containers (and networks, if any) carry labels (``mission-critical-gate.*``: start, owner pid, host)
so the sweep finds what a SIGKILL or a reboot left. Readiness is the harness's own: the published
/health, then a WebSocket handshake with a token, probed with short backoff up to
MC_DOCKER_READY_TIMEOUT (no ``up --wait``: compose v1 has none, and v2 leaves the stack running
when it fails). Teardown is ``down -v --remove-orphans -t <MC_DOCKER_STOP_TIMEOUT>`` on every
path, shielded from a second signal (Ctrl-C, SIGTERM, SIGHUP); what it misses is removed by label.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tasks.environments.choose import Observation
from tasks.environments.docker.base import why_no_base
from tasks.environments.docker.compose import Compose, find_compose
from tasks.environments.docker.engine import Engine, Log, connect_engine
from tasks.environments.docker.image import build_service_image
from tasks.environments.docker.labels import list_stacks, remove_stack, stale_reason
from tasks.environments.docker.stack import (
    check_service,
    plan_stack,
    start_stack,
    stop_stack,
    wait_ready,
    why_not_this_dialect,
)
from tasks.settings import Secret, Settings
from tasks.settings.addresses import host_port
from tasks.settings.errors import BringUpError, UnavailableError
from tasks.signals import shielded
from tasks.target import Target

__all__ = [
    "connect_compose",
    "engine_errors",
    "observe_docker",
    "refuse_unspoken_dialect",
    "serve_docker",
    "sweep_stale",
]


# ---- observation ------------------------------------------------------------------------------


def _why(exc: UnavailableError) -> str:
    return f"{exc.reason}. {exc.hint}" if exc.hint else exc.reason


def refuse_unspoken_dialect(settings: Settings) -> None:
    unspoken = why_not_this_dialect(settings)
    if unspoken is not None:
        raise UnavailableError("docker", unspoken)


def observe_docker(settings: Settings) -> Observation:
    """Usable when the dialect is one the stack speaks, the daemon answers in time, a compose
    exists and a base image can be had."""
    unspoken = why_not_this_dialect(settings)
    if unspoken is not None:
        return Observation("docker", usable=False, reason=unspoken)
    try:
        engine = connect_engine(settings.docker_daemon_timeout)
    except UnavailableError as exc:
        return Observation("docker", usable=False, reason=_why(exc))
    try:
        compose = find_compose(settings.docker_compose, engine)
        with engine_errors("looking for a base image"):
            no_base = why_no_base(engine.client, settings.docker_base_image)
    except (UnavailableError, BringUpError) as exc:
        why = _why(exc) if isinstance(exc, UnavailableError) else exc.problem
        return Observation("docker", usable=False, reason=why)
    finally:
        engine.client.close()
    if no_base:
        return Observation("docker", usable=False, reason=no_base)
    return Observation("docker", usable=True, reason=f"{engine.describe()}; {compose.account()}")


def sweep_stale(settings: Settings, log: Log, *, engine: Engine | None = None) -> int:
    """Remove this project's stacks left by killed runs; how many were removed."""
    own = engine is None
    engine = engine or connect_engine(settings.docker_daemon_timeout)
    try:
        removed = 0
        now, host = time.time(), socket.gethostname()
        for stack in list_stacks(engine.client):
            why = stale_reason(stack, max_age=settings.docker_sweep_age, now=now, host=host)
            if why is None:
                continue
            problems = remove_stack(engine.client, stack)
            log(f"docker: swept stale stack {stack.project} ({why}): {stack.describe()}")
            for problem in problems:
                log(f"docker: WARNING: sweep of {stack.project}: {problem}")
            removed += not problems
        return removed
    finally:
        if own:
            engine.client.close()


# ---- the environment --------------------------------------------------------------------------


def connect_compose(settings: Settings) -> tuple[Engine, Compose]:
    engine = connect_engine(settings.docker_daemon_timeout)
    try:
        return engine, find_compose(settings.docker_compose, engine)
    except UnavailableError:
        engine.client.close()
        raise


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """An engine API failure (the daemon died, a conflict) as a one-line BringUpError."""
    from docker.errors import DockerException  # noqa: PLC0415 - the SDK only when asked

    try:
        yield
    except DockerException as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise BringUpError("docker", f"the Docker engine failed while {what}: {first}") from None


def _sweep_quietly(settings: Settings, engine: Engine, log: Log) -> None:
    try:
        sweep_stale(settings, log, engine=engine)
    except Exception as exc:  # a failed sweep must not stop the run it precedes
        log(f"docker: WARNING: the sweep of stale stacks failed: {exc}")


@contextmanager
def serve_docker(settings: Settings, *, log: Log, reason: str) -> Iterator[Target]:
    """Build, start and probe the stack; yield its Target; remove it on every path."""
    refuse_unspoken_dialect(settings)
    engine, compose = connect_compose(settings)
    log(f"docker: {engine.describe()}; {compose.account()}")
    if compose.note:
        log(f"docker: {compose.note}")
    problems: list[str] = []
    try:
        check_service(settings, compose)
        _sweep_quietly(settings, engine, log)
        with engine_errors("building the image"):
            image = build_service_image(
                engine.client, settings.root, settings.docker_base_image, log
            )
        secret = settings.jwt_secret or Secret(secrets.token_urlsafe(32))
        plan = plan_stack(
            settings, compose, secret=secret, image=image.image_id, base_image=image.base
        )
        try:
            with engine_errors("starting the stack"):
                start_stack(engine, plan, log)
                ready = wait_ready(engine, plan, settings.docker_ready_timeout, log)
            base = host_port(ready.host, ready.port)
            log(f"docker: {plan.service} ready on {base} after {ready.seconds:.1f}s")
            yield Target(
                env="docker",
                ws_url=f"ws://{base}{plan.dialect.websocket_path}",
                http_url=f"http://{base}",
                reason=reason,
                jwt_secret=secret,
                details={
                    "compose": compose.describe(),
                    "compose_project": plan.project,
                    "compose_logs": str(plan.log_path),
                    "image": image.describe(),
                    "image_id": image.image_id,
                    "engine": engine.describe(),
                    "container": ready.container[:12],
                    "version": ready.version,
                },
            )
        finally:
            with shielded():
                problems = stop_stack(engine, plan, log)
    finally:
        engine.client.close()
    if problems:
        raise BringUpError("docker", "the stack was not removed completely", "\n".join(problems))
