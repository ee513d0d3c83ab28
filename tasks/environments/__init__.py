"""The environments a gate run may judge, and the choice between them.

    choose      which environment: a pure decision, observations in, decision and reasons out
    probes      health, WebSocket handshake + greeting, ping: bounded, timed, never a token shown
    local       the reference backend as a child process on a free loopback port
    staging     a remote deployment, probed, then judged
    docker/     a compose stack: built, started, found by label, judged, removed (its own
                __init__ draws its inside)

The gate uses only what this module exports:

    observe(env, settings) -> Observation     whether auto may pick ``env``, and why (bounded)
    serve(env, settings, *, python, log, reason)
                                              a context manager: bring the backend up, yield its
                                              ``tasks.target.Target``, tear it down on every path

Docker and staging are imported only when a run asks for them (the docker SDK is heavy).

They import the settings, the target, the signals and ``tasks.report.outputs``, never the gate.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from tasks.environments.choose import Observation, observe_staging
from tasks.settings import EnvName, Settings
from tasks.target import Target

Log = Callable[[str], None]


def observe(env: EnvName, settings: Settings) -> Observation:
    """What auto needs to know of ``env``: whether it is usable here, and why (bounded)."""
    if env == "docker":
        from tasks.environments import docker  # noqa: PLC0415 - the SDK only when docker is asked

        return docker.observe_docker(settings)
    if env == "staging":
        return observe_staging(settings)
    return Observation("local", usable=True, reason="the reference backend runs here")


def serve(
    env: EnvName, settings: Settings, *, python: str, log: Log, reason: str
) -> AbstractContextManager[Target]:
    """Bring ``env`` up: a context that yields its Target and tears it down on every path."""
    if env == "docker":
        from tasks.environments import docker  # noqa: PLC0415

        return docker.serve_docker(settings, log=log, reason=reason)
    if env == "staging":
        from tasks.environments import staging  # noqa: PLC0415

        return staging.serve_staging(settings, log=log, reason=reason)
    from tasks.environments import local  # noqa: PLC0415

    return local.serve_local(settings, python=python, log=log, reason=reason)
