"""The docker environment one step at a time, for invoke: build, up, down, logs, sweep."""

from __future__ import annotations

import secrets
import socket
import time

from tasks.environments.docker.engine import Log, connect_engine
from tasks.environments.docker.environment import (
    connect_compose,
    describe_stack,
    engine_errors,
    prepare_stack,
    sweep_stale,
)
from tasks.environments.docker.image import BuiltImage, build_service_image
from tasks.environments.docker.labels import list_stacks, stale_reason
from tasks.environments.docker.plan import compose_files, plan_stack
from tasks.environments.docker.ready import wait_ready
from tasks.environments.docker.stack import (
    describe_container,
    inspect_container,
    start_stack,
    stop_stack,
)
from tasks.settings import Secret, Settings
from tasks.settings.addresses import host_port
from tasks.signals import shielded
from tasks.target import Target


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
    compose_files(settings)
    engine, compose = connect_compose(settings)
    try:
        plan, config, image = prepare_stack(settings, engine, compose, log, owned=False)
        try:
            with engine_errors("starting the stack"):
                start_stack(engine, plan, config, log)
                ready = wait_ready(engine, plan, settings.docker_ready_timeout, log)
        except BaseException:
            with shielded():
                stop_stack(engine, plan, log)
            raise
        base = host_port(ready.host, ready.port)
        log(f"docker: stack {plan.project} running on {base}; `inv docker.down` removes it")
        if settings.jwt_secret is None:
            log("docker: MC_JWT_SECRET is unset: the stack got a random secret (set it in .env)")
        return Target(
            env="docker",
            ws_url=f"ws://{base}{plan.dialect.websocket_path}",
            http_url=f"http://{base}",
            reason="inv docker.up",
            backend=describe_stack(plan, image),
            jwt_secret=Secret(plan.env["MC_JWT_SECRET"]),
            details={"compose": compose.describe(), "compose_project": plan.project},
        )
    finally:
        engine.client.close()


def down(settings: Settings, *, log: Log, project: str | None = None) -> int:
    """Remove one stack by project name, or every stack of this gate no live run owns."""
    engine, compose = connect_compose(settings)
    try:
        now, host = time.time(), socket.gethostname()
        stacks = list_stacks(engine.client, project) if project else list_stacks(engine.client)
        if not project:
            stacks = [s for s in stacks if stale_reason(s, max_age=-1, now=now, host=host)]
        for stack in stacks:
            secret = Secret(secrets.token_urlsafe(16))  # compose.yaml demands one, even for down
            plan = plan_stack(settings, compose, secret=secret, project=stack.project)
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
