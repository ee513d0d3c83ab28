"""The docker environment against the real engine: bring-up, readiness, teardown, sweep, nox.

Tests marked ``docker`` need a usable engine with compose; where there is none they are
reported as skipped with the reason (observe_docker's). The daemon-missing and daemon-hung
tests need no engine: they make their own sockets. Every test that starts a stack checks by
label afterwards that nothing of it is left.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tasks import docker as mc_docker
from tasks.choose import choose_environment
from tasks.docker.compose import detect_compose
from tasks.docker.engine import Engine, connect_engine
from tasks.docker.image import build_service_image, checkout_key
from tasks.docker.labels import list_stacks
from tasks.docker.stack import plan_stack, start_stack
from tasks.errors import BringUpError, UnavailableError
from tasks.gate import observe
from tasks.settings import KEYS, Secret, Settings, load_settings
from tasks.staging import mint_token
from tests.integration.terminal import TerminalRun

if TYPE_CHECKING:
    from tasks.target import Target

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "docker"
SECRET = "mc-docker-test-secret-0123456789abcdef0123"
NOX_TIMEOUT = 600.0  # one nox run, venv creation and a first image build included
SIGNAL_EXIT_BOUND = 60.0  # seconds from the signal to nox's exit, teardown included
STARTING = re.compile(r"starting stack (\S+)")


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    environ = {"MC_REPORT_DIR": str(tmp_path / "reports"), "MC_JWT_SECRET": SECRET}
    return load_settings(ROOT, {**environ, **overrides})


class Recorder:
    """A ``log`` callable that keeps (monotonic time, line)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def __call__(self, line: str) -> None:
        self.lines.append((time.monotonic(), line))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def projects(self) -> list[str]:
        return [m[1] for _, line in self.lines if (m := STARTING.search(line))]

    def when(self, pattern: str) -> float:
        return next(at for at, line in self.lines if re.search(pattern, line))


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


@contextmanager
def silent_daemon() -> Iterator[str]:
    """A unix socket that accepts every connection and never answers: a hung daemon."""
    folder = tempfile.mkdtemp(prefix="mcg-")  # short: unix socket paths are limited
    path = os.path.join(folder, "docker.sock")  # noqa: PTH118
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    server.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


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


# ---- against the real engine -------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, with the service image built once (so the tests below time only themselves)."""
    settings = make_settings(tmp_path_factory.mktemp("docker"))
    seen = mc_docker.observe_docker(settings)
    if not seen.usable:
        if os.environ.get("MC_REQUIRE_DOCKER_TESTS"):  # CI on a machine that has Docker
            pytest.fail(f"MC_REQUIRE_DOCKER_TESTS is set but Docker is not usable: {seen.reason}")
        pytest.skip(f"Docker is not usable here: {seen.reason}")
    found = connect_engine(settings.docker_daemon_timeout)
    try:
        build_service_image(found.client, ROOT, settings.docker_base_image, print)
        yield found
    finally:
        found.client.close()


def assert_gone(engine: Engine, *projects: str) -> None:
    assert projects, "no stack was started"
    for project in projects:
        assert list_stacks(engine.client, project) == [], f"{project} left something behind"
        label = {"label": f"com.docker.compose.project={project}"}
        assert engine.client.api.containers(all=True, filters=label) == []
        assert engine.client.api.networks(filters=label) == []


def check_target(target: Target) -> dict[str, object]:
    """The published health answers and a token opens the socket with the greeting."""
    from urllib.request import urlopen

    from websockets.sync.client import connect

    assert target.ws_url.startswith("ws://127.0.0.1:")
    with urlopen(f"{target.http_url}/health", timeout=5) as response:  # noqa: S310
        assert response.status == 200
        health = json.loads(response.read())
    assert health["status"] == "ok"
    token = mint_token(SECRET, "docker-test-user")
    headers = {"Authorization": f"Bearer {token}"}
    with connect(target.ws_url, additional_headers=headers, open_timeout=5) as ws:
        greeting = json.loads(ws.recv(timeout=5))
    assert greeting["type"] == "connection_established"
    return dict(health)


@pytest.mark.docker
def test_serve_docker_end_to_end_leaves_nothing(engine: Engine, tmp_path: Path) -> None:
    log = Recorder()
    # not the profile's port: compose must get the shell's value, as the probes do
    settings = make_settings(tmp_path, MC_EVENT_SHAPE="data", MC_DOCKER_PORT="8123")
    with mc_docker.serve_docker(settings, log=log, reason="test") as target:
        [project] = log.projects()
        check_target(target)
        assert target.env == "docker"
        assert target.jwt_secret == Secret(SECRET)
        assert (
            "docker-compose" in target.details["compose"]
            or "docker compose" in (target.details["compose"])
        )
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
    engine: Engine, tmp_path: Path
) -> None:
    bound = 4.0
    settings = make_settings(
        tmp_path,
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
def test_a_service_that_exits_fails_at_once_with_its_error(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, MC_DOCKER_COMPOSE_FILE=str(DATA / "crashes.yaml"), MC_DOCKER_READY_TIMEOUT="60"
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
def test_two_stacks_at_once(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
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
    engine: Engine, settings: Settings, *, started: float, owner_pid: int | None
) -> str:
    compose = detect_compose()
    built = build_service_image(engine.client, ROOT, settings.docker_base_image, print)  # cached
    plan = plan_stack(
        settings, compose, secret=Secret(SECRET), image=built.image_id, base_image=built.base
    )
    env = {
        **plan.env,
        "MC_STACK_STARTED": str(int(started)),
        "MC_STACK_OWNER_PID": str(owner_pid or ""),
    }
    start_stack(engine, dataclasses.replace(plan, env=env), print)
    return plan.project


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


@pytest.mark.docker
def test_stale_stacks_are_swept_and_live_ones_kept(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, MC_DOCKER_SWEEP_AGE="3600")
    now = time.time()
    old = start_labelled_stack(engine, settings, started=now - 7200, owner_pid=None)
    orphan = start_labelled_stack(engine, settings, started=now, owner_pid=dead_pid())
    live = start_labelled_stack(engine, settings, started=now, owner_pid=os.getpid())
    fresh = start_labelled_stack(engine, settings, started=now, owner_pid=None)
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


# ---- the nox session, end to end ---------------------------------------------------------------


class NoxRun:
    """``nox -s <session>`` in its own process group, its output collected."""

    def __init__(
        self, tmp_path: Path, session: str = "mission_critical-docker", **extra: str
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k not in KEYS}
        env.update({"MC_REPORT_DIR": str(tmp_path / "reports"), "MC_JWT_SECRET": SECRET, **extra})
        command = [sys.executable, "-m", "nox", "--no-color", "-s", session]
        self.output: list[str] = []
        self.seen = threading.Condition()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a group of its own, like a terminal's foreground job
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.seen:
                self.output.append(line)
                self.seen.notify_all()

    def text(self) -> str:
        with self.seen:
            return "".join(self.output)

    def wait_for(self, pattern: str, timeout: float) -> None:
        with self.seen:
            ok = self.seen.wait_for(
                lambda: (
                    bool(re.search(pattern, "".join(self.output)))
                    or self.process.poll() is not None
                ),
                timeout,
            )
        assert ok, f"nothing within {timeout:g}s:\n{self.text()}"
        assert re.search(pattern, self.text()), f"never saw {pattern!r}:\n{self.text()}"

    def finish(self, timeout: float = NOX_TIMEOUT) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            pytest.fail(f"nox did not finish within {timeout:g}s:\n{self.text()[-4000:]}")
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def projects(self) -> list[str]:
        return STARTING.findall(self.text())


def assert_passed(run: NoxRun, code: int) -> None:
    out = run.text()
    assert code == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    assert re.search(r"compose\s+: docker(-| )compose", out), "the summary names no compose"
    assert SECRET not in out
    assert "Traceback" not in out


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
def test_a_signal_during_the_suite_leaves_nothing(engine: Engine, tmp_path: Path, how: str) -> None:
    run = NoxRun(tmp_path)
    run.wait_for(r"collected \d+ items", NOX_TIMEOUT)  # pytest has started on the stack
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
    assert_gone(engine, *run.projects())


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_a_closed_terminal_leaves_nothing(engine: Engine, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update({"MC_REPORT_DIR": str(tmp_path / "reports"), "MC_JWT_SECRET": SECRET})
    argv = [sys.executable, "-m", "nox", "--no-color", "-s", "mission_critical-docker"]
    run = TerminalRun(argv, cwd=ROOT, env=env)
    try:
        project = run.wait_for(STARTING.pattern, NOX_TIMEOUT)[1]
        run.wait_for(r"collected \d+ items", NOX_TIMEOUT)
        assert list_stacks(engine.client, project), "no stack to leave behind"
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
def test_a_killed_run_is_swept_by_the_next_one_which_passes(engine: Engine, tmp_path: Path) -> None:
    killed = NoxRun(tmp_path)
    killed.wait_for("running the suite against", NOX_TIMEOUT)
    os.killpg(killed.process.pid, signal.SIGKILL)
    killed.finish(30)
    [left] = killed.projects()
    assert list_stacks(engine.client, left), "SIGKILL left no stack: nothing to sweep"

    run = NoxRun(tmp_path)
    assert_passed(run, run.finish())
    assert f"swept stale stack {left} (its run (pid {killed.process.pid}) is gone)" in run.text()
    assert_gone(engine, left, *run.projects())


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("nox_ready")
def test_two_nox_runs_at_once_both_pass(engine: Engine, tmp_path: Path) -> None:
    runs = [NoxRun(tmp_path / "a"), NoxRun(tmp_path / "b")]
    codes = [run.finish() for run in runs]
    for run, code in zip(runs, codes, strict=True):
        assert_passed(run, code)
    [a], [b] = runs[0].projects(), runs[1].projects()
    assert a != b
    assert_gone(engine, a, b)


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
