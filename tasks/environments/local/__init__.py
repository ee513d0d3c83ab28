"""The local environment: a backend as a child process on a free port of ``MC_LOCAL_HOST``.

    reference   the reference backend (``python -m refservice``), ready at its READY line
    command     the team's own (``MC_LOCAL_COMMAND``), ready when the dialect's probes pass
    process     what both stand on: a process group of its own, stopped as a group (SIGTERM,
                then SIGKILL after a grace period), the gate's keys kept out of its environment

``serve_local`` starts the one the settings name, yields its Target, and stops it on every
path (Ctrl-C, SIGTERM and SIGHUP unwind to its ``finally``; the stop is shielded from a
second signal).
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tasks.environments.local.command import WILDCARDS, describe_command, start_command
from tasks.environments.local.process import stop_group
from tasks.environments.local.reference import (
    Service,
    read_ready_line,
    start_service,
    stop_service,
)
from tasks.settings import Secret, Settings
from tasks.settings.addresses import host_port
from tasks.signals import shielded
from tasks.target import Target

__all__ = ["Service", "read_ready_line", "serve_local", "start_service", "stop_service"]

Log = Callable[[str], None]
REFERENCE = "the reference backend (python -m refservice, this checkout)"


@contextmanager
def serve_local(
    settings: Settings, *, python: str, log: Log, reason: str, fault: str | None = None
) -> Iterator[Target]:
    """Start the backend the settings name, yield its Target, stop it on every path."""
    secret = settings.jwt_secret or Secret(secrets.token_urlsafe(32))
    serve = _serve_command(settings, log, reason, secret) if settings.local_command else None
    serve = serve or _serve_reference(settings, python, log, reason, secret, fault)
    with serve as target:
        yield target


@contextmanager
def _serve_reference(
    settings: Settings, python: str, log: Log, reason: str, secret: Secret, fault: str | None
) -> Iterator[Target]:
    dialect = settings.dialect.name
    log(f"starting the reference backend ({settings.event_shape} events, {dialect} dialect)")
    service = start_service(settings, python=python, secret=secret, fault=fault)
    try:
        base = host_port(service.host, service.port)
        log(f"reference backend ready on {base} (pid {service.process.pid})")
        yield _target(
            settings,
            base,
            reason,
            REFERENCE,
            secret,
            {
                "pid": str(service.process.pid),
                "service_log": str(service.log_path),
                "readiness_lag_ms": f"{(service.ready_at - service.listening_at) * 1000:.1f}",
            },
        )
    finally:
        with shielded():
            code = stop_service(service.process)
        if code in (0, -signal.SIGTERM):
            service.log_path.unlink(missing_ok=True)
        else:
            log(f"note: the reference backend exited with code {code}; see {service.log_path}")


@contextmanager
def _serve_command(settings: Settings, log: Log, reason: str, secret: Secret) -> Iterator[Target]:
    backend = describe_command(settings)
    log(f"starting the team's backend: {backend}")
    started = start_command(settings, secret=secret, log=log)
    try:
        base = host_port(WILDCARDS.get(started.host, started.host), started.port)
        ready = started.ready
        took = ready.at - started.started_at
        log(f"the team's backend is ready on {base} after {took:.2f}s (pid {started.process.pid})")
        yield _target(
            settings,
            base,
            reason,
            backend,
            secret,
            {
                "pid": str(started.process.pid),
                "service_log": str(started.log_path),
                "ready_ms": f"{took * 1000:.1f}",
                "ready_probes": str(ready.tries),
                **({"version": ready.version} if ready.version else {}),
            },
        )
    finally:
        with shielded():
            code = stop_group(started.process)
        log(f"the team's backend stopped (exit code {code}); its output: {started.log_path}")


def _target(
    settings: Settings,
    base: str,
    reason: str,
    backend: str,
    secret: Secret,
    details: dict[str, str],
) -> Target:
    """A local backend's Target: its URLs on ``base`` (host:port), whose it is, its facts."""
    return Target(
        env="local",
        ws_url=f"ws://{base}{settings.dialect.websocket_path}",
        http_url=f"http://{base}",
        reason=reason,
        backend=backend,
        jwt_secret=secret,
        details=details,
    )
