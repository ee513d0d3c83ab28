"""The Docker engine and the compose CLI as the docker environment sees them.

* ``connect_engine``: the daemon, reached through the docker SDK (imported lazily: the import
  alone costs a tenth of a second). A missing socket is decided before any request, a hung
  daemon within ``MC_DOCKER_DAEMON_TIMEOUT``; each failure says which, and what to do.
* ``detect_compose``: ``docker compose`` (v2 plugin) where present, else a ``docker-compose``
  binary (v1.29 or v2). Nothing here uses v2-only flags.
* ``run_command``: every subprocess of the docker environment, bounded, streamed, in its own
  session (a Ctrl-C at the terminal does not cut a ``down`` short), killed on any exception.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tasks.errors import UnavailableError

if TYPE_CHECKING:
    from docker import DockerClient

Log = Callable[[str], None]
ComposeVariant = Literal["v2 plugin", "standalone v1", "standalone v2"]

# Labels that mark a stack as this project's (set in compose.yaml from the harness's variables).
OPERATION_TIMEOUT = 120.0  # seconds for one engine request once the daemon has answered
COMPOSE_PROBE_TIMEOUT = 15.0  # `docker-compose version` starts a Python interpreter
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a child we stop

START_DOCKER_HINT = (
    "Start the daemon (`sudo systemctl start docker` or `sudo service docker start`), "
    "or point DOCKER_HOST at a running one"
)
COMPOSE_HINT = (
    "Install the compose v2 plugin (`docker compose`) or docker-compose "
    "(Debian/Ubuntu: `sudo apt-get install docker-compose`)"
)


# ---- the daemon -------------------------------------------------------------------------------


def quiet_library_logs() -> None:
    """Keep the SDK's, urllib3's and websockets' DEBUG chatter out of a DEBUG root logger (nox's).

    websockets logs request headers at DEBUG, a probe's ``Authorization: Bearer`` among them.
    """
    for name in ("docker", "urllib3", "websockets"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


@dataclass(frozen=True)
class Engine:
    client: DockerClient = field(repr=False)
    where: str  # the daemon's address, for messages
    version: str  # the engine's version, e.g. 20.10.24
    api_version: str

    def describe(self) -> str:
        return f"Docker engine {self.version} (API {self.api_version}) at {self.where}"


def _daemon_address() -> str:
    """Where ``docker.from_env()`` will look: DOCKER_HOST, else the default socket.

    Read here rather than through the SDK's ``kwargs_from_env`` (which does the same), so a
    missing socket is decided before the SDK's import.
    """
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, its causes, and the exceptions tucked into their args (requests does that)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
        todo.extend(link for link in (current.__cause__, current.__context__) if link)
    return seen


def _explain_failure(exc: BaseException, where: str, timeout: float) -> UnavailableError:
    causes = _causes(exc)
    text = " ".join(str(c) for c in causes).lower()
    if any(isinstance(c, TimeoutError) for c in causes) or "timed out" in text:
        return UnavailableError(
            "docker",
            f"the Docker daemon at {where} did not answer within {timeout:g}s (hung or overloaded)",
            "Restart the daemon, or raise MC_DOCKER_DAEMON_TIMEOUT if it is only slow",
        )
    if any(isinstance(c, PermissionError) for c in causes) or "permission denied" in text:
        return UnavailableError(
            "docker",
            f"no permission to use the Docker daemon at {where}",
            "Add your user to the docker group (`sudo usermod -aG docker $USER`, then log in "
            "again) or run as root",
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in text:
        return UnavailableError(
            "docker",
            f"the Docker daemon at {where} refused the connection (nothing is listening)",
            START_DOCKER_HINT,
        )
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return UnavailableError(
        "docker", f"cannot reach the Docker daemon at {where}: {first}", START_DOCKER_HINT
    )


def connect_engine(daemon_timeout: float) -> Engine:
    """The daemon, answered within ``daemon_timeout``; ``UnavailableError`` saying why if not.

    The bound covers the whole check, the SDK's import included (the probe gets what is left,
    never less than half the bound); a missing socket is decided before that import.
    """
    started = time.monotonic()
    where = _daemon_address()
    if where.startswith("unix://"):
        path = Path(where.removeprefix("unix://"))
        if not path.exists():
            raise UnavailableError(
                "docker", f"no Docker daemon socket at {path}", START_DOCKER_HINT
            )
    try:
        import docker  # noqa: PLC0415 - lazily: the import alone costs ~0.05-0.1 s
    except ImportError:
        raise UnavailableError(
            "docker",
            "the docker SDK for Python is not installed",
            "Install it: `pip install docker` (the harness dependency group has it)",
        ) from None
    quiet_library_logs()
    probe_timeout = max(daemon_timeout - (time.monotonic() - started), daemon_timeout / 2)
    probe = None
    try:
        # version=None: the SDK asks the daemon for its API version: that request is the probe.
        probe = docker.from_env(timeout=probe_timeout)  # type: ignore[arg-type]  # float is fine
        facts = probe.api.version()
    except Exception as exc:
        raise _explain_failure(exc, where, daemon_timeout) from None
    finally:
        if probe is not None:
            probe.close()
    api_version = str(facts.get("ApiVersion", "?"))
    client = docker.from_env(timeout=int(OPERATION_TIMEOUT), version=api_version)
    return Engine(client, where, str(facts.get("Version", "?")), api_version)


# ---- compose ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compose:
    argv: tuple[str, ...]  # ("docker", "compose") or ("/usr/bin/docker-compose",)
    variant: ComposeVariant
    version: str

    def describe(self) -> str:
        name = "docker compose" if self.variant == "v2 plugin" else "docker-compose"
        return f"{name} {self.version} ({self.variant})"


_compose_cache: dict[str, Compose] = {}


def _version_of(argv: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(
            [*argv, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=COMPOSE_PROBE_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip().removeprefix("v")
    return version if done.returncode == 0 and version else None


def detect_compose() -> Compose:
    """``docker compose`` if the plugin is there, else ``docker-compose``; cached per PATH."""
    path_key = shutil.which("docker") or "", shutil.which("docker-compose") or ""
    key = "|".join(path_key)
    if key in _compose_cache:
        return _compose_cache[key]
    docker_cli, standalone = path_key
    found: Compose | None = None
    if docker_cli and (version := _version_of([docker_cli, "compose"])):
        found = Compose((docker_cli, "compose"), "v2 plugin", version)
    elif standalone and (version := _version_of([standalone])):
        variant: ComposeVariant = "standalone v1" if version.startswith("1.") else "standalone v2"
        found = Compose((standalone,), variant, version)
    if found is None:
        tried = "`docker compose` (no plugin)" if docker_cli else "`docker compose` (no docker CLI)"
        tried += ", `docker-compose` (" + ("did not answer" if standalone else "not on PATH") + ")"
        raise UnavailableError("docker", f"no compose found: tried {tried}", COMPOSE_HINT)
    _compose_cache[key] = found
    return found


# ---- subprocesses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr, interleaved
    seconds: float
    timed_out: bool = False

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def _stop_child(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, SIGKILL it after KILL_GRACE."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            continue
        return


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Log | None = None,
    scrub: Callable[[str], str] = lambda line: line,
) -> Completed:
    """Run ``argv`` for at most ``timeout`` s; each output line goes to ``log`` as it comes.

    The child runs in its own session, so the terminal's Ctrl-C reaches only us; on a timeout
    or any exception here (KeyboardInterrupt included) the child is stopped before we return.
    """
    started = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = scrub(raw.rstrip("\n"))
            lines.append(line)
            if log is not None and line.strip():
                log(line)

    reader = threading.Thread(target=pump, name="run_command-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop_child(proc)
    except BaseException:
        _stop_child(proc)
        raise
    finally:
        reader.join(timeout=KILL_GRACE)
        if not reader.is_alive() and proc.stdout is not None:
            proc.stdout.close()  # else a grandchild still holds the pipe: the thread keeps it
    seconds = time.monotonic() - started
    code = proc.returncode if proc.returncode is not None else -1
    return Completed(tuple(argv), code, "\n".join(lines), seconds, timed_out)
