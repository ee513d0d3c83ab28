"""What the docker tests share: the engine and compose fixtures, nox runs, and the checks.

The ``compose`` fixture runs each test that takes it once per compose family: v2 (the
``docker compose`` plugin, or a standalone v2) and v1 (``docker-compose`` 1.x). A family this
machine lacks is reported as skipped with the reason, except under MC_REQUIRE_DOCKER_TESTS
(CI), where both must be here and a missing one fails.
"""

from __future__ import annotations

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
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tasks.environments import docker as mc_docker
from tasks.environments.docker.compose import Compose, find_compose
from tasks.environments.docker.engine import Engine, connect_engine
from tasks.environments.docker.image import BuiltImage, build_service_image
from tasks.environments.docker.labels import list_stacks
from tasks.settings import KEYS, Settings, load_settings
from tasks.settings.errors import UnavailableError

if TYPE_CHECKING:
    from tasks.target import Target

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "docker"
SECRET = "mc-docker-test-secret-0123456789abcdef0123"
NOX_TIMEOUT = 600.0  # one nox run, venv creation and a first image build included
SIGNAL_EXIT_BOUND = 60.0  # seconds from the signal to nox's exit, teardown included
STARTING = re.compile(r"starting stack (\S+)")
COMPOSES = ("v2", "v1")
VERSION_LABEL = "com.docker.compose.version"  # every compose, v1 and v2, sets it


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


# ---- fixtures -----------------------------------------------------------------------------------


def require(what: str) -> None:
    """Skip, saying what is missing; under MC_REQUIRE_DOCKER_TESTS (CI) fail instead."""
    if os.environ.get("MC_REQUIRE_DOCKER_TESTS"):  # CI on a machine that has Docker
        pytest.fail(f"MC_REQUIRE_DOCKER_TESTS is set but there is no {what}")
    pytest.skip(f"no {what} here")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine, with the service image built once (so the tests time only themselves)."""
    settings = make_settings(tmp_path_factory.mktemp("docker"))
    seen = mc_docker.observe_docker(settings)
    if not seen.usable:
        require(f"usable Docker ({seen.reason})")
    found = connect_engine(settings.docker_daemon_timeout)
    try:
        build_service_image(found.client, ROOT, settings.docker_base_image, print)
        yield found
    finally:
        found.client.close()


@pytest.fixture(scope="module", params=COMPOSES)
def compose(request: pytest.FixtureRequest, engine: Engine) -> Compose:
    """Each compose family in turn, as the harness finds it for MC_DOCKER_COMPOSE=<family>."""
    family = request.param
    try:
        return find_compose(family, engine)
    except UnavailableError as exc:
        require(f"usable compose {family} ({exc})")
        raise


def built_image(engine: Engine, settings: Settings) -> BuiltImage:
    """This checkout's image (cached after the engine fixture's build)."""
    return build_service_image(engine.client, ROOT, settings.docker_base_image, print)


# ---- checks -------------------------------------------------------------------------------------


def assert_gone(engine: Engine, *projects: str) -> None:
    assert projects, "no stack was started"
    for project in projects:
        assert list_stacks(engine.client, project) == [], f"{project} left something behind"
        label = {"label": f"com.docker.compose.project={project}"}
        assert engine.client.api.containers(all=True, filters=label) == []
        assert engine.client.api.networks(filters=label) == []


def assert_made_by(engine: Engine, project: str, compose: Compose) -> None:
    """The stack's containers were made by ``compose`` (the label each compose writes)."""
    label = {"label": f"com.docker.compose.project={project}"}
    found = engine.client.api.containers(all=True, filters=label)
    assert found, f"{project} has no containers"
    made_by = {item["Labels"].get(VERSION_LABEL) for item in found}
    assert made_by == {compose.version}, f"{project} was made by compose {made_by}, not {compose}"


def check_target(target: Target) -> dict[str, object]:
    """The published health answers and a token opens the socket with the greeting."""
    import json
    from urllib.request import urlopen

    from websockets.sync.client import connect

    from tasks.environments.staging import mint_token

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


# ---- nox, end to end ----------------------------------------------------------------------------


def nox_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update({"MC_REPORT_DIR": str(tmp_path / "reports"), "MC_JWT_SECRET": SECRET, **extra})
    return env


class NoxRun:
    """``nox -s <session>`` in its own process group, its output collected."""

    def __init__(
        self, tmp_path: Path, session: str = "mission_critical-docker", **extra: str
    ) -> None:
        command = [sys.executable, "-m", "nox", "--no-color", "-s", session]
        self.output: list[str] = []
        self.seen = threading.Condition()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=nox_environ(tmp_path, **extra),
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


def assert_passed(run: NoxRun, code: int, compose: Compose | None = None) -> None:
    """Passed, cleanly; with ``compose``, the summary names exactly it."""
    out = run.text()
    assert code == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    named = re.search(r"^\s+compose\s+: (.+)$", out, re.MULTILINE)
    assert named, "the summary names no compose"
    if compose is not None:
        assert named[1].strip() == compose.describe(), f"the summary says {named[1]!r}"
    assert SECRET not in out
    assert "Traceback" not in out
