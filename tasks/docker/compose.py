"""Which compose runs the stack: ``docker compose`` (v2 plugin) where present, else a
``docker-compose`` binary (v1.29 or v2). Nothing here uses v2-only flags."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tasks.errors import UnavailableError

ComposeVariant = Literal["v2 plugin", "standalone v1", "standalone v2"]
COMPOSE_PROBE_TIMEOUT = 15.0  # `docker-compose version` starts a Python interpreter
COMPOSE_HINT = (
    "Install the compose v2 plugin (`docker compose`) or docker-compose "
    "(Debian/Ubuntu: `sudo apt-get install docker-compose`)"
)


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
