"""invoke loads `tasks` as its collection: every step is listed and errors are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def inv(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_inv_lists_every_step() -> None:
    done = inv("--list")
    assert done.returncode == 0, done.stderr
    for name in ("local.serve", "docker.up", "docker.down", "docker.logs", "docker.sweep"):
        assert name in done.stdout
    assert "staging.probe" in done.stdout
    assert "gate.auto" in done.stdout


def test_a_docker_step_uses_the_docker_sdk_not_tasks_docker() -> None:
    # invoke puts tasks/ itself on sys.path; nothing in it may shadow the docker SDK
    done = inv("docker.sweep", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert done.returncode == 1
    assert "no Docker daemon socket at /nonexistent/docker.sock" in done.stderr
    assert "Traceback" not in done.stderr
