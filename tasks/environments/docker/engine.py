"""The Docker engine as the docker environment sees it.

``connect_engine`` reaches the daemon through the docker SDK (imported lazily: the import alone
costs a tenth of a second). A missing socket is decided before any request, a hung daemon within
``MC_DOCKER_DAEMON_TIMEOUT``; each failure says which, and what to do. The engine's version
endpoint also gives the API range it accepts (``MinAPIVersion``..``ApiVersion``), which compose
detection checks a v1 compose against.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.settings.errors import UnavailableError

if TYPE_CHECKING:
    from docker import DockerClient

Log = Callable[[str], None]

OPERATION_TIMEOUT = 120.0  # seconds for one engine request once the daemon has answered

START_DOCKER_HINT = (
    "Start the daemon (`sudo systemctl start docker` or `sudo service docker start`), "
    "or point DOCKER_HOST at a running one"
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
    api_version: str  # the newest API it speaks
    min_api_version: str = ""  # the oldest it accepts (1.12 for 20.10, 1.44 for 29); "" unknown

    def describe(self) -> str:
        api = (
            f"{self.min_api_version}-{self.api_version}"
            if self.min_api_version
            else self.api_version
        )
        return f"Docker engine {self.version} (API {api}) at {self.where}"


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
    version = str(facts.get("Version", "?"))
    return Engine(client, where, version, api_version, str(facts.get("MinAPIVersion", "")))
