"""The environments a gate run may judge, and the choice between them.

    choose      which environment: a pure decision, observations in, decision and reasons out
    tokens      the HS256 tokens the harness's own probes present
    failures    what a failed probe saw, and whether it is transient or definitive
    probes      health, WebSocket handshake + greeting, ping: bounded, timed, never a token shown
    readiness   a backend the harness started, probed until ready (local commands, docker)
    local/      a backend as a child process on a free port: the reference one, or the team's
                command (MC_LOCAL_COMMAND), stopped as a process group
    staging     a remote deployment, probed, then judged
    docker/     a compose stack (this checkout's, or the team's): read, built, started, found by
                service and port, judged, removed (its own __init__ draws its inside)

The gate uses only what this module exports:

    observe(env, settings) -> Observation     whether auto may pick ``env``, and why (bounded)
    serve(env, settings, *, python, log, reason)
                                              a context manager: bring the backend up, yield its
                                              ``tasks.target.Target``, tear it down on every path
    describe_backend(env, settings) -> str    whose backend ``env`` judges, before it is up (the
                                              Target's ``backend`` says it again, more exactly)
    check_inputs(settings, envs)              the files those environments read (the compose
                                              files), checked before anything starts

Docker and staging are imported only when a run asks for them (the docker SDK is heavy).

They import the settings, the target, the signals and ``tasks.report.outputs``, never the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from tasks.environments.choose import Observation, observe_staging
from tasks.settings import EnvName, Settings
from tasks.target import Target, redact_url

Log = Callable[[str], None]


def observe(env: EnvName, settings: Settings) -> Observation:
    """What auto needs to know of ``env``: whether it is usable here, and why (bounded)."""
    if env == "docker":
        from tasks.environments import docker  # noqa: PLC0415 - the SDK only when docker is asked

        return docker.observe_docker(settings)
    if env == "staging":
        return observe_staging(settings)
    if settings.local_command:
        return Observation("local", usable=True, reason="the team's command runs here")
    return Observation("local", usable=True, reason="the reference backend runs here")


def check_inputs(settings: Settings, envs: Iterable[EnvName]) -> None:
    """The files the environments a run may judge read, checked before anything starts: each of
    MC_DOCKER_COMPOSE_FILE's files must be there (a SettingsError naming it otherwise)."""
    if "docker" in envs:
        from tasks.environments.docker.plan import compose_files  # noqa: PLC0415

        compose_files(settings)


def describe_backend(env: EnvName, settings: Settings) -> str:
    """Whose backend a run of ``env`` judges: the reference one, the team's command, the team's
    compose files and service, or the deployment's URL (never a secret)."""
    if env == "docker":
        files = ":".join(str(path) for path in settings.docker_compose_file)
        return f"compose: {files}, service {settings.docker_service}"
    if env == "staging":
        url = settings.staging_websocket_url
        return (
            f"deployment: {redact_url(url)}" if url else "deployment: (STAGING_WEBSOCKET_URL unset)"
        )
    from tasks.environments.local import REFERENCE  # noqa: PLC0415
    from tasks.environments.local.command import describe_command  # noqa: PLC0415

    return describe_command(settings) if settings.local_command else REFERENCE


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
