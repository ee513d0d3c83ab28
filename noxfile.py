# /// script
# dependencies = ["nox>=2025.2.9", "python-dotenv>=1.0", "docker>=7", "websockets>=14", "pyyaml>=6"]
# ///
"""Sessions of the mission-critical gate. Each one calls `tasks` in order; no logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))

from tasks import gate
from tasks.environments.choose import Requested
from tasks.settings import load_settings
from tasks.settings.errors import GateError

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *groups: str) -> None:
    session.install(*dict.fromkeys(nox.project.dependency_groups(PYPROJECT, *groups)))


def _judge(session: nox.Session, requested: Requested) -> None:
    _install(session, "suite", "service")
    python = str(Path(session.bin) / "python")
    try:
        gate.judge(requested, python=python, log=session.log, posargs=session.posargs)
    except GateError as exc:
        session.error(str(exc))


@nox.session(name="mission_critical-auto")
def mission_critical_auto(session: nox.Session) -> None:
    """Judge Docker if usable, else staging if configured, else the local reference backend."""
    _judge(session, "auto")


@nox.session(name="mission_critical-docker")
def mission_critical_docker(session: nox.Session) -> None:
    """Build and start the compose stack, judge it, remove it."""
    _judge(session, "docker")


@nox.session(name="mission_critical-staging")
def mission_critical_staging(session: nox.Session) -> None:
    """Probe the staging deployment, then judge it."""
    _judge(session, "staging")


@nox.session(name="mission_critical-local")
def mission_critical_local(session: nox.Session) -> None:
    """Start the reference backend as a local process and judge it."""
    _judge(session, "local")


@nox.session(default=False)
def docker_cleanup(session: nox.Session) -> None:
    """Remove compose stacks left behind by runs that were killed outright."""
    from tasks.environments import docker  # noqa: PLC0415 - only this session needs the docker SDK

    try:
        docker.sweep(load_settings(), log=session.log)
    except GateError as exc:
        session.error(str(exc))


@nox.session(name="probe-staging", default=False)
def probe_staging(session: nox.Session) -> None:
    """Wake the staging deployment, run its probes (health, handshake, ping), print a table."""
    from tasks.environments import staging  # noqa: PLC0415 - only this session needs the probes

    try:
        results = staging.probe_staging(load_settings(), session.log)
    except GateError as exc:
        session.error(str(exc))
    print(staging.format_probe_table(results))
    failure = staging.first_failure(results)
    if failure is not None:
        session.error(str(failure))


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (~17 min; `-- --quick`: a smoke run): bench/results.json, docs/benchmarks.md."""
    _install(session, "test")  # all of the gate, the team backend, trustme for the wake front
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own tests: unit, integration (real engine, TLS, processes), self-test."""
    _install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: format check and lint."""
    _install(session, "lint")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy strict over contract, tasks, refservice, tests, bench and this file."""
    _install(session, "typecheck")
    session.run("mypy", *session.posargs)


@nox.session(default=False)
def workflows(session: nox.Session) -> None:
    """zizmor, offline: the GitHub workflows pin their actions and keep their credentials."""
    _install(session, "workflows")
    session.run("zizmor", "--offline", *(session.posargs or [".github/workflows"]))
