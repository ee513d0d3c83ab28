"""The nox sessions end to end against the real engine: signals, a closed terminal, SIGKILL.

Each docker test runs once per compose family, and checks both that the summary names the
compose that was asked for and that the stack's containers were made by it (the version label
every compose writes). The sessions without a usable daemon need no engine.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from tasks.environments.docker.compose import Compose
from tasks.environments.docker.engine import Engine
from tasks.environments.docker.labels import list_stacks
from tests.integration.docker_support import (
    NOX_TIMEOUT,
    ROOT,
    SIGNAL_EXIT_BOUND,
    STARTING,
    NoxRun,
    assert_gone,
    assert_made_by,
    assert_passed,
    compose,
    engine,
    nox_environ,
    silent_daemon,
)
from tests.integration.terminal import TerminalRun

__all__ = ["compose", "engine"]  # fixtures, used by name


@pytest.fixture(scope="module")
def nox_ready(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Runs one session first when its venv does not exist yet (two first runs would race)."""
    if not (ROOT / ".nox" / "mission_critical-docker").is_dir():
        run = NoxRun(tmp_path_factory.mktemp("nox-warm"))
        assert_passed(run, run.finish())


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
@pytest.mark.parametrize("how", ["SIGINT", "SIGINT twice", "SIGTERM", "SIGHUP"])
def test_a_signal_during_the_suite_leaves_nothing(
    engine: Engine, compose: Compose, tmp_path: Path, how: str
) -> None:
    run = NoxRun(tmp_path, MC_DOCKER_COMPOSE=compose.family)
    run.wait_for(r"collected \d+ items", NOX_TIMEOUT)  # pytest has started on the stack
    [project] = run.projects()
    assert_made_by(engine, project, compose)
    if how == "SIGTERM":
        run.process.send_signal(signal.SIGTERM)  # a CI runner or `kill`: the nox process only
    elif how == "SIGHUP":
        os.killpg(run.process.pid, signal.SIGHUP)  # a dropped ssh: the shell signals its job
    else:
        os.killpg(run.process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    if how == "SIGINT twice":
        run.wait_for("docker: removing stack", SIGNAL_EXIT_BOUND)
        os.killpg(run.process.pid, signal.SIGINT)  # an impatient second Ctrl-C, in the teardown
    start = time.monotonic()
    code = run.finish(SIGNAL_EXIT_BOUND)
    assert code != 0, run.text()[-4000:]
    assert time.monotonic() - start < SIGNAL_EXIT_BOUND
    assert re.search(r"docker: stack \S+ removed in", run.text()), run.text()[-4000:]
    assert_gone(engine, project)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_a_closed_terminal_leaves_nothing(engine: Engine, compose: Compose, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "nox", "--no-color", "-s", "mission_critical-docker"]
    env = nox_environ(tmp_path, MC_DOCKER_COMPOSE=compose.family)
    run = TerminalRun(argv, cwd=ROOT, env=env)
    try:
        project = run.wait_for(STARTING.pattern, NOX_TIMEOUT)[1]
        run.wait_for(r"collected \d+ items", NOX_TIMEOUT)
        assert_made_by(engine, project, compose)  # a stack to leave behind
        run.hang_up()  # SIGHUP to nox; its output has nowhere to go from here on
        start = time.monotonic()
        run.finish(SIGNAL_EXIT_BOUND)
    finally:
        run.hang_up()
    assert time.monotonic() - start < SIGNAL_EXIT_BOUND
    assert_gone(engine, project)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_a_killed_run_is_swept_by_the_next_one_which_passes(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    killed = NoxRun(tmp_path, MC_DOCKER_COMPOSE=compose.family)
    killed.wait_for("running the suite against", NOX_TIMEOUT)
    os.killpg(killed.process.pid, signal.SIGKILL)
    killed.finish(30)
    [left] = killed.projects()
    assert list_stacks(engine.client, left), "SIGKILL left no stack: nothing to sweep"
    assert_made_by(engine, left, compose)

    run = NoxRun(tmp_path, MC_DOCKER_COMPOSE=compose.family)
    assert_passed(run, run.finish(), compose)
    assert f"swept stale stack {left} (its run (pid {killed.process.pid}) is gone)" in run.text()
    assert_gone(engine, left, *run.projects())


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_two_nox_runs_at_once_both_pass(engine: Engine, compose: Compose, tmp_path: Path) -> None:
    runs = [NoxRun(tmp_path / n, MC_DOCKER_COMPOSE=compose.family) for n in ("a", "b")]
    codes = [run.finish() for run in runs]
    for run, code in zip(runs, codes, strict=True):
        assert_passed(run, code, compose)
    [a], [b] = runs[0].projects(), runs[1].projects()
    assert a != b
    assert_gone(engine, a, b)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_the_stack_speaks_the_netra_dialect_end_to_end(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    run = NoxRun(tmp_path, MC_DOCKER_COMPOSE=compose.family, MC_CONTRACT="netra")
    assert_passed(run, run.finish(), compose)
    assert re.search(r"dialect +: netra \(contract/dialects/netra.toml\)", run.text())
    [project] = run.projects()
    assert_gone(engine, project)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_a_service_the_compose_file_lacks_is_named_before_anything_starts(
    engine: Engine, compose: Compose, tmp_path: Path
) -> None:
    """MC_DOCKER_SERVICE=nope used to build, start, and wait out the ready bound."""
    run = NoxRun(tmp_path, MC_DOCKER_COMPOSE=compose.family, MC_DOCKER_SERVICE="nope")
    code = run.finish()
    out = run.text()
    assert code != 0, out[-3000:]
    said = [line for line in out.splitlines() if "bad setting MC_DOCKER_SERVICE" in line]
    assert said, out[-3000:]  # the summary's head and the session's last line say it
    for line in said:
        assert "'nope' is not a service of compose.yaml (its services: refservice)" in line
    assert "Traceback" not in out
    assert "docker: starting stack" not in out
    assert "docker: image" not in out  # nothing was built either
    assert run.projects() == []


@pytest.mark.slow
def test_docker_session_without_a_daemon_fails_with_the_reason(tmp_path: Path) -> None:
    run = NoxRun(tmp_path, DOCKER_HOST="unix:///nonexistent/docker.sock")
    code = run.finish()
    out = run.text()
    assert code != 0
    assert "docker environment unavailable: no Docker daemon socket at /nonexistent" in out
    assert "judging the local" not in out  # no silent fallback in this session
    assert "Traceback" not in out


@pytest.mark.slow
def test_auto_with_a_hung_daemon_falls_through_to_local_and_says_why(tmp_path: Path) -> None:
    with silent_daemon() as url:
        run = NoxRun(
            tmp_path,
            "mission_critical-auto",
            DOCKER_HOST=url,
            MC_DOCKER_DAEMON_TIMEOUT="0.5",
            MC_ENV_ORDER="docker,local",
        )
        code = run.finish()
    out = run.text()
    assert code == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    assert "local (requested: auto)" in out
    assert re.search(
        r"not docker\s*: the Docker daemon at unix://\S+ did not answer within 0.5s", out
    )
