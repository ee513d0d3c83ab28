"""Shared helpers for the integration tests: the reference service as a real subprocess."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tasks.environments.local import read_ready_line, stop_service
from tests.integration.browser import find_chromium

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PATTERN = re.compile(
    r"READY host=(?P<host>\S+) port=(?P<port>\d+) listening_at=(?P<at>\d+(?:\.\d+)?)"
)
READY_TIMEOUT = 15.0  # seconds from spawn to the READY line (a cold interpreter start)
NO_CHROMIUM = "no headless Chromium on PATH (Debian: apt-get install chromium; .ci/run does)"


@dataclass(frozen=True)
class RunningService:
    """A started `python -m refservice` child and what its READY line said."""

    process: subprocess.Popen[bytes] = field(repr=False)
    host: str
    port: int
    listening_at: float
    ready_line: str
    stderr_path: Path
    secret: str | None = field(repr=False)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def read_stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL; always reaps the child (the harness's own stop)."""
    stop_service(process)


@dataclass
class ServiceLauncher:
    """Starts refservice children into `log_dir` and stops every one of them in `stop_all`."""

    log_dir: Path
    # A fresh HS256 secret per launcher, long enough that pyjwt does not warn.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self,
        *args: str,
        secret: str | None = "",
        ready_timeout: float = READY_TIMEOUT,
    ) -> RunningService:
        """`python -m refservice --port 0 *args` on 127.0.0.1, once it printed READY.

        `secret` "" means the launcher's own; None starts it without one.
        """
        secret = self.secret if secret == "" else secret
        env = {k: v for k, v in os.environ.items() if k != "REFSERVICE_JWT_SECRET"}
        if secret is not None:
            env["REFSERVICE_JWT_SECRET"] = secret
        stderr_path = self.log_dir / f"refservice-{len(self.started)}.log"
        command: Sequence[str] = [
            sys.executable,
            "-m",
            "refservice",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *args,
        ]
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr
            )
        self.started.append(process)
        line = read_ready_line(process, ready_timeout)
        match = READY_PATTERN.fullmatch(line)
        assert match is not None, f"READY line malformed: {line!r}"
        return RunningService(
            process=process,
            host=match["host"],
            port=int(match["port"]),
            listening_at=float(match["at"]),
            ready_line=line,
            stderr_path=stderr_path,
            secret=secret,
        )

    def stop_all(self) -> None:
        for process in self.started:
            stop_process(process)


@pytest.fixture
def refservice_launcher(tmp_path: Path) -> Iterator[ServiceLauncher]:
    """Start refservice children in a test; all are stopped (and reaped) afterwards."""
    launcher = ServiceLauncher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def module_refservice_launcher(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceLauncher]:
    """Like `refservice_launcher`, shared by the tests of one module."""
    launcher = ServiceLauncher(tmp_path_factory.mktemp("refservice"))
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium the browser tests drive; a skip saying so where there is none, or a
    failure when MC_REQUIRE_BROWSER_TESTS is set (CI, which installs it)."""
    found = find_chromium()
    if found is None:
        if os.environ.get("MC_REQUIRE_BROWSER_TESTS"):
            pytest.fail(f"MC_REQUIRE_BROWSER_TESTS is set but there is {NO_CHROMIUM}")
        pytest.skip(NO_CHROMIUM)
    return found
