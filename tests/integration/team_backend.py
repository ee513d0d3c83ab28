"""The team backend (tests/team_backend/) as a team runs it: a command, a compose stack, staging.

Each helper gives the gate's settings a team would write in its profiles, nothing more: the
gate's own files are never changed for it. The Docker image builds offline: its wheels are
downloaded beforehand into its build context (as the gate does for the reference image) and it
builds on the gate's own local base image.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from tasks.environments.docker.base import resolve_base_image
from tasks.environments.docker.engine import Engine
from tasks.environments.docker.image import checkout_key, prepare_wheels
from tasks.environments.local.process import group_members

ROOT = Path(__file__).resolve().parents[2]
TEAM = ROOT / "tests" / "team_backend"
SECRET_ENV = "JWT_SECRET_KEY"
FAULT_RULE = "started-first"  # what TEAM_FAULT=reorder breaks
READY = re.compile(r"the team's backend is ready on \S+ after \S+ \(pid (\d+)\)")
UVICORN = f"{sys.executable} -m uvicorn app:app --host {{host}} --port {{port}}"


def local_profile(*, workers: int = 1, fault: str = "") -> dict[str, str]:
    """What a team puts in .env.local (and its shell) to be judged as a local command."""
    command = UVICORN + (f" --workers {workers}" if workers > 1 else "")
    env = {
        "MC_LOCAL_COMMAND": command,
        "MC_LOCAL_CWD": "tests/team_backend",
        "MC_LOCAL_SECRET_ENV": SECRET_ENV,
    }
    return {**env, "TEAM_FAULT": fault} if fault else env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def team_tag() -> str:
    """This checkout's tag for the team image (`${TAG}`): two checkouts never share one."""
    import hashlib

    return "wt-" + hashlib.sha256(checkout_key(ROOT).encode()).hexdigest()[:10]


def docker_profile(engine: Engine, *, fault: str = "", **extra: str) -> dict[str, str]:
    """What a team sets to be judged on its compose stack: the gate's keys in .env.docker, and
    its compose file's own variables in the shell (`${TAG}`, `${TEAM_PORT}`, `${LOG_LEVEL}`...).
    """
    prepare_wheels(ROOT, print, group="team-backend", wheels=TEAM / ".wheels")
    base = resolve_base_image(engine.client, "python:3.11-slim", ROOT, print)
    env = {
        "MC_DOCKER_COMPOSE_FILE": "tests/team_backend/compose.yaml",
        "MC_DOCKER_SERVICE": "backend",
        "MC_DOCKER_PORT": "8000",
        "MC_DOCKER_SECRET_ENV": SECRET_ENV,
        "TAG": team_tag(),
        "TEAM_BASE_IMAGE": base,
        "TEAM_PORT": str(free_port()),  # a fixed host port, as the team's file publishes one
        "LOG_LEVEL": "warning",
    }
    return {**env, **({"TEAM_FAULT": fault} if fault else {}), **extra}


def group_gone(pgid: int, bound: float = 5.0) -> bool:
    """Whether every process of the group ``pgid`` is gone (reaping may take a moment)."""
    deadline = time.monotonic() + bound
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not group_members(pgid)


def start_team_backend(
    secret: str, log: Path, *, fault: str = ""
) -> tuple[subprocess.Popen[bytes], int]:
    """The team backend on a free loopback port, as its staging deployment (ready when it is)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update({SECRET_ENV: secret, "TEAM_FAULT": fault})
    argv = UVICORN.replace("{host}", "127.0.0.1").replace("{port}", str(port)).split()
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=TEAM, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the team backend did not start: {log.read_text(errors='replace')}")
