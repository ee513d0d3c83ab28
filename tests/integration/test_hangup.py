"""A closed terminal (SIGHUP) stops what a run started, like Ctrl-C: the local environment.

Two ways a hangup arrives: the terminal itself closes (the kernel signals the session leader, and
every later write to the terminal fails), or a shell whose ssh connection dropped passes SIGHUP on
to its job's process group. The docker environment's hangup tests are in test_docker.py.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tasks.settings import KEYS
from tests.integration.terminal import TerminalRun

ROOT = Path(__file__).resolve().parents[2]
SECRET = "mc-hangup-test-secret-0123456789abcdef01"
START_BOUND = 300.0  # seconds until the backend is up (a first nox run creates its venv)
EXIT_BOUND = 30.0  # seconds from the hangup to the exit, teardown included
BACKEND = r"reference backend ready on \S+ \(pid (\d+)\)"


def environ(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update({"MC_REPORT_DIR": str(tmp_path / "reports"), "MC_JWT_SECRET": SECRET})
    return env


def is_backend(pid: int) -> bool:
    """Whether ``pid`` is still a (non-zombie) refservice process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" and b"refservice" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def hang_up(run: TerminalRun, how: str) -> None:
    if how == "terminal closed":
        run.hang_up()
    else:  # the shell of a dropped ssh session signals its foreground job's group
        os.killpg(run.process.pid, signal.SIGHUP)


COMMANDS = [
    pytest.param(
        [sys.executable, "-m", "nox", "--no-color", "-s", "mission_critical-local"],
        r"collected \d+ items",
        id="nox-local",
    ),
    pytest.param(
        [sys.executable, "-m", "invoke", "local.serve"], r"Health:\s+http://", id="inv-local-serve"
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["terminal closed", "SIGHUP to the group"])
@pytest.mark.parametrize(("argv", "running"), COMMANDS)
def test_a_hangup_stops_the_backend(
    tmp_path: Path, argv: list[str], running: str, how: str
) -> None:
    run = TerminalRun(argv, cwd=ROOT, env=environ(tmp_path))
    try:
        pid = int(run.wait_for(BACKEND, START_BOUND)[1])
        run.wait_for(running, START_BOUND)  # the suite has started, or the server is serving
        assert is_backend(pid)
        hang_up(run, how)
        start = time.monotonic()
        code = run.finish(EXIT_BOUND)
    finally:
        run.hang_up()
    assert code != 0 or argv[-1] == "local.serve"  # a judged run that was cut short is no pass
    assert time.monotonic() - start < EXIT_BOUND
    deadline = time.monotonic() + 5  # reaped by now; the bound covers a slow /proc update only
    while is_backend(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_backend(pid), f"the reference backend (pid {pid}) outlived the hangup"
