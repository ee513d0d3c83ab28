"""The team's own compose stack (tests/team_backend/compose.yaml), judged as the team wrote it,
once per compose family: its build: section built by compose, a dependency with a healthcheck
and a named volume, a fixed host port, its own secret variable, its variables from the shell.

Every test that starts a stack checks afterwards that none of its containers, networks or
volumes is left. The nox runs end to end (a killed run swept by the next, the seeded fault,
SIGTERM and SIGHUP) are at the bottom.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from tasks.environments import docker as mc_docker
from tasks.environments.docker.compose import Compose
from tasks.environments.docker.engine import Engine
from tasks.environments.docker.labels import LABEL_OWNER_PID, list_stacks
from tasks.environments.staging import mint_token
from tasks.settings import Settings
from tasks.settings.errors import BringUpError, GateError, SettingsError
from tests.integration.docker_support import (
    NOX_TIMEOUT,
    SECRET,
    SIGNAL_EXIT_BOUND,
    NoxRun,
    Recorder,
    assert_gone,
    assert_made_by,
    assert_passed,
    compose,
    engine,
    make_settings,
)
from tests.integration.team_backend import FAULT_RULE, SECRET_ENV, docker_profile

__all__ = ["compose", "engine"]  # fixtures, used by name

GATE_KEYS = (
    "MC_DOCKER_COMPOSE_FILE",
    "MC_DOCKER_SERVICE",
    "MC_DOCKER_PORT",
    "MC_DOCKER_SECRET_ENV",
)
OVERRIDE = "tests/integration/data/docker/team-fixed-name.yaml"


@pytest.fixture(scope="module")
def profile(engine: Engine) -> dict[str, str]:
    """The team's settings: wheels and base ready (so the tests time only themselves)."""
    return docker_profile(engine)


@pytest.fixture
def team(
    profile: dict[str, str], compose: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, dict[str, str]]:
    """Settings for this compose family, and the team's compose variables in the shell."""
    shell = {k: v for k, v in profile.items() if k not in GATE_KEYS}
    for name, value in shell.items():
        monkeypatch.setenv(name, value)
    gate = {k: profile[k] for k in GATE_KEYS}
    return make_settings(tmp_path, MC_DOCKER_COMPOSE=compose.family, **gate), shell


def assert_nothing_of(engine: Engine, *projects: str) -> None:
    """No container, network or (named) volume of these projects is left."""
    assert_gone(engine, *projects)
    for project in projects:
        label = {"label": f"com.docker.compose.project={project}"}
        assert engine.client.api.volumes(filters=label).get("Volumes") in (None, [])


def with_settings(settings: Settings, tmp_path: Path, **changes: str) -> Settings:
    """The team's settings with some keys changed (an empty value: the key's default)."""
    values = {
        "MC_DOCKER_COMPOSE": settings.docker_compose,
        "MC_DOCKER_COMPOSE_FILE": ":".join(str(p) for p in settings.docker_compose_file),
        "MC_DOCKER_SERVICE": settings.docker_service,
        "MC_DOCKER_PORT": str(settings.docker_port),
        "MC_DOCKER_SECRET_ENV": settings.docker_secret_env or "",
        **changes,
    }
    return make_settings(tmp_path, **values)


@pytest.mark.docker
def test_the_team_stack_is_built_started_judged_and_removed(
    engine: Engine, compose: Compose, team: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, shell = team
    log = Recorder()
    with mc_docker.serve_docker(settings, log=log, reason="test") as target:
        [project] = log.projects()
        assert_made_by(engine, project, compose)
        # found by service and container port, on the fixed host port the team's file publishes
        assert target.http_url == f"http://127.0.0.1:{shell['TEAM_PORT']}"
        assert (
            target.backend
            == "compose: tests/team_backend/compose.yaml, service backend (its own image)"
        )
        token = mint_token(SECRET, "team-test-user")
        from websockets.sync.client import connect

        with connect(target.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            assert '"connection_established"' in str(ws.recv(timeout=5))
        [stack] = list_stacks(engine.client, project)
        assert (len(stack.containers), len(stack.volumes)) == (2, 1), stack
        assert stack.owner_pid == os.getpid()  # the gate's labels, from its override
        for cid in stack.containers:
            attrs = engine.client.api.inspect_container(cid)
            assert attrs["Config"]["Labels"][LABEL_OWNER_PID] == str(os.getpid())
            assert attrs["Config"]["Image"] == f"team-backend:{shell['TAG']}"  # ${TAG}
            service = attrs["Config"]["Labels"]["com.docker.compose.service"]
            if service == "store":
                assert attrs["State"]["Health"]["Status"] == "healthy"
            else:
                assert "--log-level warning" in " ".join(attrs["Config"]["Cmd"])  # ${LOG_LEVEL}
                assert f"{SECRET_ENV}={SECRET}" in attrs["Config"]["Env"]  # MC_DOCKER_SECRET_ENV
                assert SECRET not in " ".join(attrs["Config"]["Cmd"])
    assert_nothing_of(engine, project)
    said = log.text()
    assert f"building backend with {compose.describe()}" in said  # by compose itself
    assert "mission-critical-gate/refservice" not in said  # the reference image: not built
    assert SECRET not in said


@pytest.mark.docker
def test_a_taken_fixed_port_fails_at_once_naming_it(
    engine: Engine, team: tuple[Settings, dict[str, str]]
) -> None:
    settings, shell = team
    port = int(shell["TEAM_PORT"])
    log = Recorder()
    with socket.create_server(("0.0.0.0", port)):  # noqa: S104 - as another stack would hold it
        start = time.monotonic()
        with (
            pytest.raises(BringUpError) as caught,
            mc_docker.serve_docker(settings, log=log, reason="test"),
        ):
            pytest.fail("a stack came up on a taken port")
    message = str(caught.value)
    assert f"host port {port}, which service backend publishes" in message
    assert "is taken" in message
    assert "can run only once at a time on this machine" in message
    assert time.monotonic() - start < 10
    assert log.projects() == []  # nothing was started


# (id, what changes, the error's type, the key it names or None, what it says)
BAD_STACKS = [
    ("service-the-file-lacks", {"MC_DOCKER_SERVICE": "api"}, SettingsError, "MC_DOCKER_SERVICE",
     "'api' is not a service of tests/team_backend/compose.yaml (its services: backend, store)"),
    ("port-not-published", {"MC_DOCKER_PORT": "9000"}, SettingsError, "MC_DOCKER_PORT",
     ("service backend of tests/team_backend/compose.yaml publishes no container port 9000 "
     "(it publishes 8000 on fixed host port")),
    ("secret-variable-not-named", {"MC_DOCKER_SECRET_ENV": ""}, BringUpError, None,
     "compose cannot read tests/team_backend/compose.yaml"),
]  # fmt: skip


@pytest.mark.docker
@pytest.mark.parametrize(
    ("changes", "kind", "key", "says"), [b[1:] for b in BAD_STACKS], ids=[b[0] for b in BAD_STACKS]
)
def test_a_stack_that_cannot_be_the_backend_is_named_before_anything_starts(
    engine: Engine,
    team: tuple[Settings, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, str],
    kind: type[GateError],
    key: str | None,
    says: str,
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    settings = with_settings(team[0], tmp_path / "bad", **changes)
    log = Recorder()
    with pytest.raises(kind) as caught, mc_docker.serve_docker(settings, log=log, reason="test"):
        pytest.fail("a stack that cannot be judged came up")
    message = str(caught.value)
    assert says in message, message
    if key is not None:
        assert isinstance(caught.value, SettingsError)
        assert caught.value.key == key
    else:
        assert "name it in MC_DOCKER_SECRET_ENV" in message  # the variable it lacked
    assert log.projects() == []
    assert SECRET not in message + log.text()


@pytest.mark.docker
def test_a_secret_in_the_wrong_variable_fails_at_once_naming_the_key(
    engine: Engine,
    team: tuple[Settings, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 16's first try: the stack read its own JWT_SECRET_KEY (from the shell), not the
    gate's; the probe's 401 was retried for the whole bound and named staging's keys."""
    monkeypatch.setenv(SECRET_ENV, "the-teams-own-dev-secret-0123456789abcdef")
    settings = with_settings(team[0], tmp_path / "s", MC_DOCKER_SECRET_ENV="")
    log = Recorder()
    time.monotonic()
    with (
        pytest.raises(BringUpError) as caught,
        mc_docker.serve_docker(settings, log=log, reason="test"),
    ):
        pytest.fail("a stack that refuses the gate's tokens was declared ready")
    message = str(caught.value).splitlines()[0]
    assert "backend refused the readiness probe, which will not change" in message
    assert "HTTP 403" in message
    assert "MC_JWT_SECRET" in message
    assert "MC_DOCKER_SECRET_ENV" in message
    assert "STAGING_" not in message
    assert time.monotonic() - log.when("starting stack") < 20  # not the 60 s bound
    assert_nothing_of(engine, *log.projects())


@pytest.mark.docker
def test_a_fixed_container_name_is_said_and_one_in_use_fails_at_once(
    engine: Engine, team: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, shell = team
    files = f"tests/team_backend/compose.yaml:{OVERRIDE}"
    settings = with_settings(settings, tmp_path / "n", MC_DOCKER_COMPOSE_FILE=files)
    name = f"mcg-team-store-{shell['TAG']}"
    holder = engine.client.api.create_container(shell["TEAM_BASE_IMAGE"], "true", name=name)
    try:
        log = Recorder()
        with (
            pytest.raises(BringUpError) as caught,
            mc_docker.serve_docker(settings, log=log, reason="test"),
        ):
            pytest.fail("a stack came up beside a container of its fixed name")
    finally:
        engine.client.api.remove_container(holder["Id"], force=True)
    assert f"service store has a fixed container_name ('{name}')" in log.text()
    assert f"container name '{name}' (service store's container_name in {files}) is taken" in str(
        caught.value
    )
    assert log.projects() == []


# ---- through nox, end to end ------------------------------------------------------------------


def nox_team(tmp_path: Path, profile: dict[str, str], compose: Compose, **extra: str) -> NoxRun:
    return NoxRun(tmp_path, MC_DOCKER_COMPOSE=compose.family, **{**profile, **extra})


@pytest.mark.docker
@pytest.mark.slow
def test_a_killed_team_run_is_swept_by_the_next_which_passes(
    engine: Engine, compose: Compose, profile: dict[str, str], tmp_path: Path
) -> None:
    killed = nox_team(tmp_path / "killed", profile, compose)
    killed.wait_for("running the suite against", NOX_TIMEOUT)
    os.killpg(killed.process.pid, signal.SIGKILL)
    killed.finish(30)
    [left] = killed.projects()
    [stack] = list_stacks(engine.client, left)
    assert stack.volumes, "SIGKILL left no volume to sweep"
    assert stack.networks, "SIGKILL left no network to sweep"

    run = nox_team(tmp_path / "next", profile, compose)
    assert_passed(run, run.finish(), compose)  # on the fixed port the killed stack held
    out = run.text()
    swept = f"swept stale stack {left} (its run (pid {killed.process.pid}) is gone)"
    if swept not in out:  # the sweep is engine-wide: another checkout's run may have been first
        assert not list_stacks(engine.client, left), out[-4000:]
    assert re.search(r"backend +: compose: tests/team_backend/compose.yaml, service backend", out)
    assert_nothing_of(engine, left, *run.projects())


@pytest.mark.docker
@pytest.mark.slow
def test_the_team_stacks_seeded_fault_fails_naming_its_rule(
    engine: Engine, compose: Compose, profile: dict[str, str], tmp_path: Path
) -> None:
    run = nox_team(tmp_path, profile, compose, TEAM_FAULT="reorder")  # from the shell
    code = run.finish()
    out = run.text()
    assert code != 0
    assert f"[{FAULT_RULE}]" in out
    assert "mission-critical gate: FAILED" in out
    assert_nothing_of(engine, *run.projects())


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP"])
def test_a_signal_during_the_team_suite_leaves_nothing(
    engine: Engine, compose: Compose, profile: dict[str, str], tmp_path: Path, how: str
) -> None:
    run = nox_team(tmp_path, profile, compose)
    run.wait_for(r"collected \d+ items", NOX_TIMEOUT)
    [project] = run.projects()
    if how == "SIGTERM":
        run.process.send_signal(signal.SIGTERM)
    else:
        os.killpg(run.process.pid, signal.SIGHUP)
    start = time.monotonic()
    code = run.finish(SIGNAL_EXIT_BOUND)
    assert code != 0
    assert time.monotonic() - start < SIGNAL_EXIT_BOUND
    assert_nothing_of(engine, project)
