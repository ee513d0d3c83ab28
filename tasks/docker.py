"""The docker environment: the compose stack built from this checkout, judged, and removed.

    observe_docker(settings) -> Observation        daemon (bounded) + compose, for auto
    serve_docker(settings, *, log, reason)         build, up, ready, yield Target, down (always)
    sweep_stale(settings, log) -> int              remove stacks that killed runs left behind
    build / up / down / logs / sweep               the same steps one at a time (invoke)

A stack is one compose project named ``mcg-<pid>-<random>`` (never a fixed container name), its
port published on 127.0.0.1 with an ephemeral host port that is looked up after the start. Its
containers and network carry labels (``mission-critical-gate.*``: start time, owner pid and host)
so the sweep finds what a SIGKILL or a reboot left. Readiness is the harness's own: the published
/health, then a WebSocket handshake with a token, probed with short backoff up to
MC_DOCKER_READY_TIMEOUT (no ``up --wait``: compose v1 has none, and v2 leaves the stack running
when it fails). Teardown is ``down -v --remove-orphans -t <MC_DOCKER_STOP_TIMEOUT>`` on every
path, shielded from a second Ctrl-C; whatever it misses is removed through the engine by label.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tasks.choose import Observation
from tasks.docker_engine import Compose, Engine, Log, connect_engine, detect_compose
from tasks.docker_image import BuiltImage, build_service_image, why_no_base
from tasks.docker_labels import list_stacks, remove_stack, stale_reason
from tasks.docker_stack import (
    WS_PATH,
    describe_container,
    inspect_container,
    plan_stack,
    start_stack,
    stop_stack,
    wait_ready,
)
from tasks.errors import BringUpError, UnavailableError
from tasks.settings import Secret, Settings
from tasks.signals import shielded
from tasks.target import Target

__all__ = [
    "build",
    "down",
    "logs",
    "observe_docker",
    "serve_docker",
    "sweep",
    "sweep_stale",
    "up",
]


# ---- observation ------------------------------------------------------------------------------


def _why(exc: UnavailableError) -> str:
    return f"{exc.reason}. {exc.hint}" if exc.hint else exc.reason


def observe_docker(settings: Settings) -> Observation:
    """Usable when the daemon answers in time, a compose exists and a base image can be had."""
    try:
        engine = connect_engine(settings.docker_daemon_timeout)
    except UnavailableError as exc:
        return Observation("docker", usable=False, reason=_why(exc))
    try:
        compose = detect_compose()
        with engine_errors("looking for a base image"):
            no_base = why_no_base(engine.client, settings.docker_base_image)
    except (UnavailableError, BringUpError) as exc:
        why = _why(exc) if isinstance(exc, UnavailableError) else exc.problem
        return Observation("docker", usable=False, reason=why)
    finally:
        engine.client.close()
    if no_base:
        return Observation("docker", usable=False, reason=no_base)
    return Observation("docker", usable=True, reason=f"{engine.describe()}; {compose.describe()}")


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


def _connect(settings: Settings) -> tuple[Engine, Compose]:
    engine = connect_engine(settings.docker_daemon_timeout)
    try:
        return engine, detect_compose()
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
    engine, compose = _connect(settings)
    log(f"docker: {engine.describe()}; {compose.describe()}")
    problems: list[str] = []
    try:
        _sweep_quietly(settings, engine, log)
        with engine_errors("building the image"):
            image = build_service_image(
                engine.client, settings.root, settings.docker_base_image, log
            )
        secret = settings.jwt_secret or Secret(secrets.token_urlsafe(32))
        plan = plan_stack(settings, compose, secret=secret, image=image.tag, base_image=image.base)
        try:
            with engine_errors("starting the stack"):
                start_stack(engine, plan, log)
                ready = wait_ready(engine, plan, settings.docker_ready_timeout, log)
            base = f"{ready.host}:{ready.port}"
            log(f"docker: {plan.service} ready on {base} after {ready.seconds:.1f}s")
            yield Target(
                env="docker",
                ws_url=f"ws://{base}{WS_PATH}",
                http_url=f"http://{base}",
                reason=reason,
                jwt_secret=secret,
                details={
                    "compose": compose.describe(),
                    "compose_project": plan.project,
                    "compose_logs": str(plan.log_path),
                    "image": f"{image.tag} on {image.base} (built in {image.seconds:.1f}s)",
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


# ---- one step at a time (invoke) --------------------------------------------------------------


def build(settings: Settings, *, log: Log) -> BuiltImage:
    """Wheels, base and image only (then `docker compose up --build` works by hand too)."""
    engine = connect_engine(settings.docker_daemon_timeout)
    try:
        with engine_errors("building the image"):
            return build_service_image(
                engine.client, settings.root, settings.docker_base_image, log
            )
    finally:
        engine.client.close()


def up(settings: Settings, *, log: Log) -> Target:
    """Start a stack and leave it running (unowned: the sweep removes it after the sweep age)."""
    engine, compose = _connect(settings)
    try:
        with engine_errors("building the image"):
            image = build_service_image(
                engine.client, settings.root, settings.docker_base_image, log
            )
        secret = settings.jwt_secret or Secret(secrets.token_urlsafe(32))
        plan = plan_stack(
            settings, compose, secret=secret, image=image.tag, base_image=image.base, owned=False
        )
        try:
            with engine_errors("starting the stack"):
                start_stack(engine, plan, log)
                ready = wait_ready(engine, plan, settings.docker_ready_timeout, log)
        except BaseException:
            with shielded():
                stop_stack(engine, plan, log)
            raise
        base = f"{ready.host}:{ready.port}"
        log(f"docker: stack {plan.project} running on {base}; `inv docker.down` removes it")
        if settings.jwt_secret is None:
            log("docker: MC_JWT_SECRET is unset: the stack got a random secret (set it in .env)")
        return Target(
            env="docker",
            ws_url=f"ws://{base}{WS_PATH}",
            http_url=f"http://{base}",
            reason="inv docker.up",
            jwt_secret=secret,
            details={"compose": compose.describe(), "compose_project": plan.project},
        )
    finally:
        engine.client.close()


def down(settings: Settings, *, log: Log, project: str | None = None) -> int:
    """Remove one stack by project name, or every stack of this gate no live run owns."""
    engine, compose = _connect(settings)
    try:
        now, host = time.time(), socket.gethostname()
        stacks = list_stacks(engine.client, project) if project else list_stacks(engine.client)
        if not project:
            stacks = [s for s in stacks if stale_reason(s, max_age=-1, now=now, host=host)]
        for stack in stacks:
            secret = Secret(secrets.token_urlsafe(16))  # compose.yaml demands one, even for down
            plan = plan_stack(
                settings, compose, secret=secret, image="-", base_image="-", project=stack.project
            )
            for problem in stop_stack(engine, plan, log, keep_logs=False):
                log(f"docker: WARNING: {problem}")
        return len(stacks)
    finally:
        engine.client.close()


def logs(settings: Settings, *, log: Log, project: str | None = None, tail: int = 100) -> int:
    """Print the last ``tail`` log lines of each container of one stack (or of every stack)."""
    engine = connect_engine(settings.docker_daemon_timeout)
    try:
        stacks = list_stacks(engine.client, project) if project else list_stacks(engine.client)
        for stack in stacks:
            plan_secrets = tuple(settings.secrets())
            for cid in stack.containers:
                attrs = inspect_container(engine.client, cid)
                raw = bytes(engine.client.api.logs(cid, stdout=True, stderr=True, tail=tail))
                text = raw.decode(errors="replace")
                for value in plan_secrets:
                    text = text.replace(value, "***")
                log(f"==> {stack.project}: {describe_container(attrs, cid)} <==\n{text.rstrip()}")
        return len(stacks)
    finally:
        engine.client.close()


def sweep(settings: Settings, *, log: Log) -> int:
    """``nox -s docker_cleanup``: the sweep on its own."""
    removed = sweep_stale(settings, log)
    log(f"docker: {removed} stale stack(s) removed")
    return removed
