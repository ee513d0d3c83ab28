"""A stack's plan: the files compose merges, and the variables compose gets.

compose.yaml (and the test stacks) interpolate ``${VAR}``; each of the harness's variables must
be in the environment the plan gives compose, resolved by the settings. For a stack in the
checkout's root, the env-file compose is handed must define nothing, so the gate's own .env
never reaches compose; a team's stack elsewhere reads its own .env, as compose users expect.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tasks.environments.docker.compose import Compose
from tasks.environments.docker.plan import StackPlan, plan_stack, write_labels_file
from tasks.settings import Secret, load_settings
from tasks.settings.errors import SettingsError

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
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")  # a stack in the root
    files = ":".join(n if n == "compose.yaml" else str(ROOT / n) for n in stack.split(":"))
    settings = load_settings(tmp_path, {"MC_DOCKER_COMPOSE_FILE": files, **environ})
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
    wanted = {name for name in interpolated(ROOT / stack) if name.startswith("MC_")}
    assert wanted, f"{stack} interpolates nothing of the harness's: the test would prove nothing"
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


def test_a_team_stack_reads_its_own_env_file_and_files_merge_in_order(tmp_path: Path) -> None:
    team, override = "tests/team_backend/compose.yaml", "tests/integration/data/docker/crashes.yaml"
    plan = plan_in(tmp_path, {}, f"{team}:{override}")
    command = plan.command("up")
    assert "--env-file" not in command  # compose reads tests/team_backend/.env, if there is one
    files = [command[i + 1] for i, arg in enumerate(command) if arg == "--file"]
    assert files == [str(ROOT / team), str(ROOT / override)]
    assert plan.describe_files() == f"{ROOT / team}:{ROOT / override}"


def test_the_label_override_goes_to_up_only_and_labels_every_service(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, {})
    assert str(plan.labels_path) not in plan.command("down")
    assert plan.command("up", labelled=True)[-3:] == [
        "--env-file",
        str(plan.env_file),
        "up",
    ]
    assert str(plan.labels_path) in plan.command("up", labelled=True)
    written = json.loads(write_labels_file(plan, ["a", "b"]).read_text().split("\n", 1)[1])
    assert set(written["services"]) == {"a", "b"}
    labels = written["services"]["a"]["labels"]
    assert labels["mission-critical-gate.owner-pid"] == str(os.getpid())
    assert labels["mission-critical-gate.stack"] == "1"


def test_the_secret_goes_under_the_teams_name_too(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, {"MC_DOCKER_SECRET_ENV": "JWT_SECRET_KEY"})
    assert plan.env["JWT_SECRET_KEY"] == plan.env["MC_JWT_SECRET"] == SECRET
    (tmp_path / "without").mkdir()
    assert "JWT_SECRET_KEY" not in plan_in(tmp_path / "without", {}).env


@pytest.mark.parametrize(
    ("files", "says"),
    [
        pytest.param("nope.yaml", "'nope.yaml' does not exist (relative to", id="missing"),
        pytest.param(
            "compose.yaml:nope.yaml", "'nope.yaml' (file 2 of 2) does not exist", id="second"
        ),
        pytest.param("docs", "'docs' is not a file", id="a-folder"),
    ],
)
def test_a_compose_file_that_is_not_there_is_a_bad_setting(
    tmp_path: Path, files: str, says: str
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    settings = load_settings(tmp_path, {"MC_DOCKER_COMPOSE_FILE": files})
    with pytest.raises(SettingsError) as caught:
        plan_stack(settings, V2, secret=Secret(SECRET))
    assert caught.value.key == "MC_DOCKER_COMPOSE_FILE"
    assert says in str(caught.value)
    assert str(caught.value).startswith(
        "bad setting MC_DOCKER_COMPOSE_FILE (environment variable MC_DOCKER_COMPOSE_FILE): "
    )
