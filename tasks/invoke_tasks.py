"""The invoke collection: the gate's steps one at a time, for debugging (`inv --list`).

Each task calls the same function a nox session does; a ``GateError`` becomes a one-line exit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

from tasks import gate
from tasks.environments import check_inputs
from tasks.environments.choose import Requested
from tasks.report.outputs import check_outputs
from tasks.settings import EnvName, Settings, load_settings
from tasks.settings.errors import GateError
from tasks.signals import terminate_as_interrupt


def _step(fn: Callable[..., None]) -> Task[Any]:
    """A task whose GateError ends the command with its message instead of a traceback.

    SIGTERM and SIGHUP unwind it like Ctrl-C, so what it started is stopped on those too.
    """

    @wraps(fn)
    def run(c: Context, *args: Any, **kwargs: Any) -> None:
        try:
            with terminate_as_interrupt():
                fn(c, *args, **kwargs)
        except GateError as exc:
            raise Exit(str(exc), code=1) from None

    return cast("Task[Any]", task(run))


def _settings(*writes_for: EnvName) -> Settings:
    """The settings, and what a step for ``writes_for`` writes and reads, checked before it
    starts."""
    settings = load_settings()
    check_outputs(settings, writes_for)
    check_inputs(settings, writes_for)
    return settings


# ---- local ------------------------------------------------------------------------------------


@_step
def serve(c: Context, fault: str = "") -> None:
    """Run the reference backend in the foreground until Ctrl-C (--fault NAME breaks a rule)."""
    from tasks.environments import local  # noqa: PLC0415

    reason = "inv local.serve"
    with local.serve_local(
        _settings("local"), python=sys.executable, log=print, reason=reason, fault=fault or None
    ) as target:
        print(f"WebSocket: {target.ws_url}\nHealth:    {target.http_url}/health")
        print("The JWT secret is MC_JWT_SECRET from .env (a random one if unset; never printed).")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")


# ---- docker -----------------------------------------------------------------------------------


@_step
def build(c: Context) -> None:
    """Build the service image (and, without a registry, its local base image)."""
    from tasks.environments import docker  # noqa: PLC0415

    docker.build(_settings("docker"), log=print)


@_step
def up(c: Context) -> None:
    """Start a stack and leave it running; prints its URLs."""
    from tasks.environments import docker  # noqa: PLC0415

    target = docker.up(_settings("docker"), log=print)
    print(f"WebSocket: {target.ws_url}\nHealth:    {target.http_url}/health")


@_step
def down(c: Context, project: str = "") -> None:
    """Remove one stack (--project), or every stack of this gate that no live run owns."""
    from tasks.environments import docker  # noqa: PLC0415

    docker.down(_settings(), log=print, project=project or None)


@_step
def logs(c: Context, project: str = "", tail: int = 100) -> None:
    """Print the last lines of each container's log."""
    from tasks.environments import docker  # noqa: PLC0415

    docker.logs(_settings(), log=print, project=project or None, tail=tail)


@_step
def sweep(c: Context) -> None:
    """Remove stacks left behind by runs that were killed outright."""
    from tasks.environments import docker  # noqa: PLC0415

    docker.sweep(_settings(), log=print)


# ---- staging ----------------------------------------------------------------------------------


@_step
def probe(c: Context) -> None:
    """Wake the staging deployment, run its probes and print a table."""
    from tasks.environments import staging  # noqa: PLC0415

    results = staging.probe_staging(_settings(), print)
    print(staging.format_probe_table(results))
    failure = staging.first_failure(results)
    if failure is not None:
        raise failure


# ---- the whole gate ---------------------------------------------------------------------------


def _judge_task(requested: Requested) -> Task[Any]:
    def judge(c: Context) -> None:
        gate.judge(requested)

    judge.__doc__ = f"The whole gate on {requested} (as `nox -s mission_critical-{requested}`)."
    judge.__name__ = requested
    return _step(judge)


namespace = Collection(
    Collection("local", serve),
    Collection("docker", build, up, down, logs, sweep),
    Collection("staging", probe),
    Collection("gate", *(_judge_task(r) for r in ("auto", "docker", "staging", "local"))),
)
