"""The docker environment as a gate run sees it: observed for auto, served, swept.

    observe_docker(settings) -> Observation        daemon (bounded) + compose, for auto
    serve_docker(settings, *, log, reason)         check, build, up, ready, yield Target, down
    sweep_stale(settings, log) -> int              remove stacks that killed runs left behind

A stack is the compose files MC_DOCKER_COMPOSE_FILE names (this checkout's compose.yaml, or the
team's own), run as one compose project named ``mcg-<pid>-<random>``. In order: compose reads
it (``config``: the service, its port, fixed host ports and container names checked before
anything starts); stale stacks are swept; the reference backend's image is built if, and only
if, the stack uses it; the stack's own ``build:`` sections are built by compose, and the images
it only names are pulled when missing; ``up -d --no-build``; then readiness (``ready``). The
backend is found by service and container port wherever it is published. Teardown is
``down -v --remove-orphans -t <MC_DOCKER_STOP_TIMEOUT>`` on every path, shielded from a second
signal (Ctrl-C, SIGTERM, SIGHUP); what it misses is removed by compose's project label.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from contract.dialect import shipped_dialects
from tasks.environments.choose import Observation
from tasks.environments.docker.base import why_no_base
from tasks.environments.docker.compose import Compose, find_compose
from tasks.environments.docker.config import (
    StackConfig,
    check_backend,
    check_fixed_names,
    check_host_ports,
    read_config,
)
from tasks.environments.docker.engine import Engine, Log, connect_engine
from tasks.environments.docker.image import BuiltImage, build_service_image
from tasks.environments.docker.labels import list_stacks, remove_stack, stale_reason
from tasks.environments.docker.plan import STACKS_DIR, StackPlan, compose_files, plan_stack
from tasks.environments.docker.ready import wait_ready
from tasks.environments.docker.stack import build_services, pull_missing, start_stack, stop_stack
from tasks.settings import Secret, Settings
from tasks.settings.addresses import host_port
from tasks.settings.errors import BringUpError, GateError, UnavailableError
from tasks.signals import shielded
from tasks.target import Target

CUSTOM_DIALECT = (
    "MC_CONTRACT={spec}: the stack runs the reference backend's image, which speaks the shipped "
    "dialects only ({shipped}); a dialect file of your own judges your own backend (your own "
    "compose files, a command for local, or staging)"
)

__all__ = [
    "connect_compose",
    "engine_errors",
    "observe_docker",
    "prepare_stack",
    "serve_docker",
    "sweep_stale",
]


# ---- observation ------------------------------------------------------------------------------


def _why(exc: UnavailableError) -> str:
    return f"{exc.reason}. {exc.hint}" if exc.hint else exc.reason


def why_not_this_dialect(settings: Settings, config: StackConfig) -> str | None:
    """Why a stack that runs the reference image cannot speak MC_CONTRACT's dialect."""
    if not config.uses_reference_image or settings.contract in shipped_dialects():
        return None
    return CUSTOM_DIALECT.format(spec=settings.contract, shipped=", ".join(shipped_dialects()))


def _asks_reference_image(settings: Settings, compose: Compose) -> bool | None:
    """Whether the stack runs the reference image (None: compose cannot read it, which the
    bring-up says; auto does not pass Docker over for it)."""
    try:
        plan = plan_stack(settings, compose, secret=Secret("-"), project="mcg-observe")
        return read_config(plan).uses_reference_image
    except GateError:
        return None


def observe_docker(settings: Settings) -> Observation:
    """Usable when the daemon answers in time and a compose exists; for a stack that runs the
    reference image, also when a base image can be had and the dialect is one it speaks.

    Compose is asked about the stack (``config``) only when the answer matters: a dialect file
    of one's own, or no base image to be had (the common case asks nothing more)."""
    try:
        engine = connect_engine(settings.docker_daemon_timeout)
    except UnavailableError as exc:
        return Observation("docker", usable=False, reason=_why(exc))
    try:
        compose = find_compose(settings.docker_compose, engine)
        custom = settings.contract not in shipped_dialects()
        with engine_errors("looking for a base image"):
            no_base = why_no_base(engine.client, settings.docker_base_image)
        if (custom or no_base) and _asks_reference_image(settings, compose):
            if custom:
                spec, shipped = settings.contract, ", ".join(shipped_dialects())
                return Observation(
                    "docker", usable=False, reason=CUSTOM_DIALECT.format(spec=spec, shipped=shipped)
                )
            if no_base:
                return Observation("docker", usable=False, reason=no_base)
    except (UnavailableError, BringUpError) as exc:
        why = _why(exc) if isinstance(exc, UnavailableError) else exc.problem
        return Observation("docker", usable=False, reason=why)
    finally:
        engine.client.close()
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
            (settings.root / STACKS_DIR / f"{stack.project}.labels.yaml").unlink(missing_ok=True)
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


def prepare_stack(
    settings: Settings, engine: Engine, compose: Compose, log: Log, *, owned: bool = True
) -> tuple[StackPlan, StackConfig, BuiltImage | None]:
    """Everything before ``up``: the plan, compose's reading of the stack and its checks, the
    sweep, the reference image (only if the stack uses it), the stack's builds and pulls."""
    secret = settings.jwt_secret or Secret(secrets.token_urlsafe(32))
    plan = plan_stack(settings, compose, secret=secret, owned=owned)
    config = read_config(plan)
    check_backend(settings, plan, config)
    unspoken = why_not_this_dialect(settings, config)
    if unspoken is not None:
        raise UnavailableError("docker", unspoken)
    if owned:  # first: a killed run's stack may hold the ports and names checked next
        _sweep_quietly(settings, engine, log)
    with engine_errors("checking the stack's names and ports"):
        check_fixed_names(engine.client, plan, config, log)
        check_host_ports(engine.client, plan, config)
    image = None
    if config.uses_reference_image:
        with engine_errors("building the image"):
            image = build_service_image(
                engine.client, settings.root, settings.docker_base_image, log
            )
        env = {**plan.env, "MC_DOCKER_IMAGE": image.image_id, "MC_DOCKER_BASE_IMAGE": image.base}
        plan = replace(plan, env=env)
    build_services(plan, config, log)
    with engine_errors("looking for the stack's images"):
        pull_missing(engine, plan, config, log)
    return plan, config, image


def describe_stack(plan: StackPlan, image: BuiltImage | None) -> str:
    """Whose backend: the compose files and the service (and whose image it runs)."""
    whose = "the reference backend's image, built from this checkout" if image else "its own image"
    return f"compose: {plan.describe_files()}, service {plan.service} ({whose})"


@contextmanager
def serve_docker(settings: Settings, *, log: Log, reason: str) -> Iterator[Target]:
    """Check, build and start the stack, probe it; yield its Target; remove it on every path."""
    compose_files(settings)  # a file that is not there is a bad setting: said before the daemon
    engine, compose = connect_compose(settings)
    log(f"docker: {engine.describe()}; {compose.account()}")
    if compose.note:
        log(f"docker: {compose.note}")
    problems: list[str] = []
    try:
        plan, config, image = prepare_stack(settings, engine, compose, log)
        try:
            with engine_errors("starting the stack"):
                start_stack(engine, plan, config, log)
                ready = wait_ready(engine, plan, settings.docker_ready_timeout, log)
            base = host_port(ready.host, ready.port)
            log(f"docker: {plan.service} ready on {base} after {ready.seconds:.1f}s")
            yield Target(
                env="docker",
                ws_url=f"ws://{base}{plan.dialect.websocket_path}",
                http_url=f"http://{base}",
                reason=reason,
                backend=describe_stack(plan, image),
                jwt_secret=Secret(plan.env["MC_JWT_SECRET"]),
                details={
                    "compose": compose.describe(),
                    "compose_project": plan.project,
                    "compose_files": plan.describe_files(),
                    "compose_logs": str(plan.log_path),
                    **({"image": image.describe(), "image_id": image.image_id} if image else {}),
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
