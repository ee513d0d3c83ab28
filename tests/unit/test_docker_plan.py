"""Compose's environment has one source: every variable it reads comes from the harness's env.

compose.yaml (and the test stacks) interpolate ``${VAR}``; each such variable must be in the
environment the plan gives compose, resolved by the settings, and the env-file compose is handed
must define nothing, so no file value can ever disagree with (or beat) the shell's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tasks.environments.docker.compose import Compose
from tasks.environments.docker.stack import StackPlan, plan_stack
from tasks.settings import Secret, load_settings

ROOT = Path(__file__).resolve().parents[2]
STACKS = [
    "compose.yaml",
    *(f"tests/integration/data/docker/{n}" for n in ("crashes.yaml", "never-healthy.yaml")),
]
V2 = Compose(("docker", "compose"), "v2 plugin", "2.40.3")
SECRET = "mc-plan-test-secret-0123456789abcdef0123"


def interpolated(path: Path) -> set[str]:
    """The variables a compose file reads (``${NAME}``, ``${NAME:-x}``, ``${NAME:?x}``)."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", path.read_text()))


def plan_in(tmp_path: Path, environ: dict[str, str], stack: str = "compose.yaml") -> StackPlan:
    shutil.copy(ROOT / ".env.docker", tmp_path / ".env.docker")  # the committed profile
    settings = load_settings(tmp_path, {"MC_DOCKER_COMPOSE_FILE": str(ROOT / stack), **environ})
    return plan_stack(
        settings, V2, secret=Secret(SECRET), image="sha256:" + "0" * 64, base_image="b"
    )


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize("stack", STACKS)
def test_every_variable_compose_reads_comes_from_the_environment(
    tmp_path: Path, stack: str
) -> None:
    plan = plan_in(tmp_path, {}, stack)
    wanted = interpolated(ROOT / stack)
    assert wanted, f"{stack} interpolates nothing: the test would prove nothing"
    assert wanted <= set(plan.env), f"compose would not get {sorted(wanted - set(plan.env))}"


def test_the_env_file_compose_gets_defines_nothing(tmp_path: Path) -> None:
    command = plan_in(tmp_path, {}).command("up")
    env_file = Path(option(command, "--env-file"))
    assert env_file.is_file()  # compose v1 insists on a real file
    assignments = [
        line
        for line in env_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert assignments == []
    assert env_file.name not in {".env", ".env.docker"}


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        pytest.param({}, "8000", id="profile"),
        pytest.param({"MC_DOCKER_PORT": "8123"}, "8123", id="shell-beats-profile"),
    ],
)
def test_compose_gets_the_port_the_harness_probes(
    tmp_path: Path, environ: dict[str, str], port: str
) -> None:
    plan = plan_in(tmp_path, environ)
    assert plan.env["MC_DOCKER_PORT"] == port
    assert str(plan.container_port) == port  # where the readiness probe looks


def test_the_shell_reaches_compose_only_through_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_DOCKER_PORT", "9999")  # settings are given another value below
    monkeypatch.setenv("MC_SOMETHING_ELSE", "x")
    monkeypatch.setenv("COMPOSE_API_VERSION", "1.44")  # compose's own variables pass through
    plan = plan_in(tmp_path, {"MC_DOCKER_PORT": "8123"})
    assert plan.env["MC_DOCKER_PORT"] == "8123"
    assert "MC_SOMETHING_ELSE" not in plan.env
    assert plan.env["COMPOSE_API_VERSION"] == "1.44"
    assert plan.env["MC_JWT_SECRET"] == SECRET
