"""The invoke collection: one step at a time, for debugging (`inv --list`)."""

from __future__ import annotations

import sys
import time
from typing import Any, cast

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

from tasks import gate
from tasks.choose import Requested
from tasks.errors import GateError
from tasks.settings import load_settings


def _fail(exc: GateError) -> Exit:
    return Exit(str(exc), code=1)


@task(help={"fault": "a fault mode of the reference backend", "port": "0 picks a free port"})
def serve(c: Context, fault: str = "", port: int = 0) -> None:
    """Run the reference backend in the foreground until Ctrl-C; print its URLs and a token."""
    from tasks import local  # noqa: PLC0415

    try:
        settings = load_settings()
        with local.serve_local(
            settings,
            python=sys.executable,
            log=print,
            reason="inv local.serve",
            fault=fault or None,
        ) as target:
            print(f"WebSocket: {target.ws_url}\nHealth:    {target.http_url}/health")
            print("Secret: set MC_JWT_SECRET in .env to choose it (it is never printed)")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped")
    except GateError as exc:
        raise _fail(exc) from None


def _judge(requested: Requested) -> None:
    try:
        gate.judge(requested)
    except GateError as exc:
        raise _fail(exc) from None


@task
def auto(c: Context) -> None:
    """Judge Docker if usable, else staging if configured, else the local backend."""
    _judge("auto")


@task
def judge_local(c: Context) -> None:
    """Judge the reference backend started as a local process."""
    _judge("local")


def _task(fn: Any) -> Task[Any]:
    return cast("Task[Any]", fn)


local_ns = Collection("local")
local_ns.add_task(_task(serve))
gate_ns = Collection("gate")
gate_ns.add_task(_task(auto))
gate_ns.add_task(_task(judge_local), name="local")

namespace = Collection(local_ns, gate_ns)
