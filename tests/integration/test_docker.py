"""The docker environment against the real engine: bring-up, readiness, teardown, sweep.

Tests marked ``docker`` need a usable engine with compose, and run once per compose family
(``docker_support.compose``); where one is missing they are reported as skipped with the reason.
The daemon-missing and daemon-hung tests need no engine: they make their own sockets. Every
test that starts a stack checks by label afterwards that nothing of it is left. The nox
sessions end to end are in test_docker_nox.py, compose detection in test_compose.py.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tasks.environments import docker as mc_docker
from tasks.environments import observe
from tasks.environments.choose import choose_environment
from tasks.environments.docker.compose import Compose
from tasks.environments.docker.config import read_config
from tasks.environments.docker.engine import Engine
from tasks.environments.docker.image import checkout_key
from tasks.environments.docker.labels import list_stacks
from tasks.environments.docker.plan import plan_stack
from tasks.environments.docker.stack import start_stack
from tasks.settings import Secret, Settings
from tasks.settings.errors import BringUpError, UnavailableError
from tests.integration.docker_support import (
    DATA,
    ROOT,
    SECRET,
    Recorder,
    assert_gone,
    assert_made_by,
    built_image,
    check_target,
    compose,
    engine,
    make_settings,
    silent_daemon,
)

__all__ = ["compose", "engine"]  # fixtures, used by name


# ---- the daemon probe, without an engine -------------------------------------------------------


def test_missing_daemon_is_decided_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    settings = make_settings(tmp_path)
    start = time.monotonic()
    seen = mc_docker.observe_docker(settings)
    took = time.monotonic() - start
    assert not seen.usable
    assert "no Docker daemon socket at /nonexistent/docker.sock" in seen.reason
    assert "Start the daemon" in seen.reason
    assert took < 0.5, f"a missing socket took {took:.2f}s to decide"
    # the docker session itself fails with the same message, no fallback
    with (
        pytest.raises(UnavailableError) as caught,
        mc_docker.serve_docker(settings, log=Recorder(), reason="test"),
    ):
        pytest.fail("serve_docker yielded without a daemon")
    assert "docker environment unavailable: no Docker daemon socket" in str(caught.value)


def test_hung_daemon_is_decided_within_its_bound_and_auto_falls_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = 0.5
    with silent_daemon() as url:
        monkeypatch.setenv("DOCKER_HOST", url)
        settings = make_settings(tmp_path, MC_DOCKER_DAEMON_TIMEOUT=str(bound))
        start = time.monotonic()
        seen = mc_docker.observe_docker(settings)
        took = time.monotonic() - start
        assert not seen.usable
        assert f"did not answer within {bound:g}s" in seen.reason
        assert "MC_DOCKER_DAEMON_TIMEOUT" in seen.reason
        assert bound <= took < bound + 0.5, f"decided in {took:.2f}s (bound {bound}s)"

        decision = choose_environment("auto", settings, lambda env: observe(env, settings))
    assert decision.env == "local"
    assert "not docker: " in decision.reason
    assert "did not answer" in decision.reason


TEAM_STACK = {
    "MC_DOCKER_COMPOSE_FILE": "tests/team_backend/compose.yaml",
    "MC_DOCKER_SERVICE": "backend",
    "MC_DOCKER_SECRET_ENV": "JWT_SECRET_KEY",
}


@pytest.mark.docker
@pytest.mark.parametrize(
    ("stack", "usable"), [({}, False), (TEAM_STACK, True)], ids=["reference-stack", "team-stack"]
)
def test_a_dialect_file_of_ones_own_needs_a_stack_of_ones_own(
    engine: Engine, tmp_path: Path, stack: dict[str, str], usable: bool
) -> None:
    """The reference image speaks the shipped dialects only; a team's own stack speaks its own."""
    own = tmp_path / "ours.toml"
    own.write_text('[dialect]\nname = "ours"\n', encoding="utf-8")
    settings = make_settings(tmp_path, MC_CONTRACT=str(own), **stack)
    seen = mc_docker.observe_docker(settings)
    assert seen.usable is usable, seen.reason
    if usable:
        return
    said = f"MC_CONTRACT={own}: the stack runs the reference backend's image, which speaks the"
    assert said in seen.reason
    with (
        pytest.raises(UnavailableError, match="speaks the shipped dialects only"),
        mc_docker.serve_docker(settings, log=Recorder(), reason="test"),
    ):
        pytest.fail("serve_docker yielded for a dialect its image does not hold")


# ---- against the real engine, with each compose ------------------------------------------


@pytest.mark.docker
def test_serve_docker_end_to_end_leaves_nothing(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    log = Recorder()
    # not the profile's port: compose must get the shell's value, as the probes do
    settings = make_settings(
        tmp_path, MC_DOCKER_COMPOSE=compose.family, MC_EVENT_SHAPE="data", MC_DOCKER_PORT="8123"
    )
    with mc_docker.serve_docker(settings, log=log, reason="test") as target:
        [project] = log.projects()
        check_target(target)
        assert target.env == "docker"
        assert target.jwt_secret == Secret(SECRET)
        assert target.details["compose"] == compose.describe()  # what the summary says ...
        assert_made_by(engine, project, compose)  # ... is what made the containers
        [stack] = list_stacks(engine.client, project)
        assert stack.owner_pid == os.getpid()
        assert abs(stack.started - time.time()) < 120
        [container] = stack.containers
        attrs = engine.client.containers.get(container).attrs
        # the very image this run built (by id: the shared tags may point anywhere by now)
        assert attrs["Image"] == target.details["image_id"]
        labels = engine.client.images.get(attrs["Image"]).labels
        assert labels["mission-critical-gate.checkout"] == checkout_key(ROOT)
        assert {b["HostIp"] for b in attrs["NetworkSettings"]["Ports"]["8123/tcp"]} == {"127.0.0.1"}
        assert "--port 8123" in " ".join(attrs["Config"]["Cmd"])
        assert "--shape data" in " ".join(attrs["Config"]["Cmd"])  # MC_EVENT_SHAPE reached it
        assert SECRET not in " ".join(attrs["Config"]["Cmd"])  # env only, never argv
    assert_gone(engine, project)
    logs = Path(target.details["compose_logs"])
    assert "listening on 0.0.0.0:8123" in logs.read_text()
    assert SECRET not in logs.read_text()
    assert SECRET not in log.text()


@pytest.mark.docker
def test_never_healthy_fails_within_its_bound_with_the_log_lines(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    bound = 4.0
    settings = make_settings(
        tmp_path,
        MC_DOCKER_COMPOSE=compose.family,
        MC_DOCKER_COMPOSE_FILE=str(DATA / "never-healthy.yaml"),
        MC_DOCKER_READY_TIMEOUT=str(bound),
    )
    log = Recorder()
    with (
        pytest.raises(BringUpError) as caught,
        mc_docker.serve_docker(settings, log=log, reason="test"),
    ):
        pytest.fail("a never-healthy stack was declared ready")
    failed_at = time.monotonic()
    waited = failed_at - log.when("starting stack")
    message = str(caught.value)
    assert f"refservice not ready within {bound:g}s" in message
    assert "health: HTTP 500" in message
    assert "HTTP response sent (500 Internal Server Error)" in message  # its own log lines
    assert caught.value.log_path
    assert Path(caught.value.log_path).is_file()
    assert bound <= waited < bound + 5, f"gave up after {waited:.1f}s (bound {bound}s)"
    assert_gone(engine, *log.projects())


@pytest.mark.docker
def test_a_service_that_exits_fails_at_once_with_its_error(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        MC_DOCKER_COMPOSE=compose.family,
        MC_DOCKER_COMPOSE_FILE=str(DATA / "crashes.yaml"),
        MC_DOCKER_READY_TIMEOUT="60",
    )
    log = Recorder()
    start = time.monotonic()
    with (
        pytest.raises(BringUpError) as caught,
        mc_docker.serve_docker(settings, log=log, reason="test"),
    ):
        pytest.fail("a crashed stack was declared ready")
    message = str(caught.value)
    assert "refservice exited with code 2 before it was ready" in message
    assert "not a port number" in message
    assert time.monotonic() - start < 20
    assert_gone(engine, *log.projects())


@pytest.mark.docker
def test_two_stacks_at_once(engine: Engine, compose: Compose, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, MC_DOCKER_COMPOSE=compose.family)
    both = threading.Barrier(2, timeout=120)
    logs = [Recorder(), Recorder()]

    def serve(log: Recorder) -> tuple[str, str]:
        with mc_docker.serve_docker(settings, log=log, reason="test") as target:
            both.wait()  # both stacks are up at the same time
            check_target(target)
            both.wait()
            return target.ws_url, target.details["compose_project"]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(serve, logs))
    (url_a, project_a), (url_b, project_b) = results
    assert url_a != url_b
    assert project_a != project_b
    assert_gone(engine, project_a, project_b)


def start_labelled_stack(
    engine: Engine,
    compose: Compose,
    settings: Settings,
    *,
    started: float,
    owner_pid: int | None,
) -> str:
    built = built_image(engine, settings)
    plan = plan_stack(
        settings, compose, secret=Secret(SECRET), image=built.image_id, base_image=built.base
    )
    plan = dataclasses.replace(plan, started=int(started), owner_pid=owner_pid)
    start_stack(engine, plan, read_config(plan), print)
    return plan.project


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


@pytest.mark.docker
def test_stale_stacks_are_swept_and_live_ones_kept(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, MC_DOCKER_COMPOSE=compose.family, MC_DOCKER_SWEEP_AGE="3600")
    now = time.time()
    old = start_labelled_stack(engine, compose, settings, started=now - 7200, owner_pid=None)
    orphan = start_labelled_stack(engine, compose, settings, started=now, owner_pid=dead_pid())
    live = start_labelled_stack(engine, compose, settings, started=now, owner_pid=os.getpid())
    fresh = start_labelled_stack(engine, compose, settings, started=now, owner_pid=None)
    try:
        log = Recorder()
        removed = mc_docker.sweep_stale(settings, log)
        assert removed >= 2
        assert_gone(engine, old, orphan)
        assert f"swept stale stack {old} (started" in log.text()
        assert f"swept stale stack {orphan} (its run (pid" in log.text()
        assert list_stacks(engine.client, live), "a stack whose run is alive was swept"
        assert list_stacks(engine.client, fresh), "a young unowned stack was swept"
    finally:
        assert mc_docker.down(settings, log=print, project=live) == 1
        assert mc_docker.down(settings, log=print, project=fresh) == 1
    assert_gone(engine, live, fresh)
