"""Compose detection says what cannot work, and why: each case against an engine that answers.

The engines are stand-ins (fake_engine.py): Docker Engine 29 (API 1.44-1.52), which we cannot
run here, and 20.10 (1.12-1.41). The composes are the real ones where this machine has them
(the v2 plugin, Debian's docker-compose 1.29.2) and, for what no machine here runs, a script:
an old 1.25.0, and an upstream-like 1.29.2 that speaks the API 1.27-1.29 pin for compose files
without ``version:`` (1.38, or COMPOSE_API_VERSION) and asks the engine as compose would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.environments.docker.compose import Compose, ComposeChoice, find_compose
from tasks.environments.docker.engine import Engine, connect_engine
from tasks.settings.errors import UnavailableError
from tests.integration.docker_support import NoxRun, require
from tests.integration.fake_engine import fake_engine

ENGINES = {
    "29": {"version": "29.0.0", "min_api": "1.44", "max_api": "1.52"},
    "20.10": {"version": "20.10.24", "min_api": "1.12", "max_api": "1.41"},
}
FAKE_COMPOSE = '''#!{python}
"""A stand-in docker-compose {version}: speaks API 1.38, or COMPOSE_API_VERSION, like upstream."""
import http.client, json, os, socket, sys

if sys.argv[-2:] == ["version", "--short"]:
    print("{version}")
    sys.exit(0)


class Engine(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(os.environ["DOCKER_HOST"].removeprefix("unix://"))


api = os.environ.get("COMPOSE_API_VERSION") or "1.38"
engine = Engine("localhost", timeout=5)
engine.request("GET", f"/v{{api}}/containers/json")
answer = engine.getresponse()
if answer.status != 200:
    print("ERROR:", json.loads(answer.read())["message"], file=sys.stderr)
    sys.exit(1)
'''


def fake_compose(folder: Path, version: str) -> None:
    path = folder / "docker-compose"
    path.write_text(FAKE_COMPOSE.format(python=sys.executable, version=version))
    path.chmod(0o755)


def real(name: str, folder: Path) -> None:
    """Link this machine's ``docker`` (for the plugin) or docker-compose 1.x into ``folder``."""
    found = shutil.which(name)
    if found and name == "docker-compose":
        done = subprocess.run(
            [found, "version", "--short"], capture_output=True, text=True, timeout=30, check=False
        )
        found = found if done.stdout.startswith("1.") else None  # a v2 is not what is meant
    if found is None:
        require(f"real {name} for this case")
        return
    (folder / name).symlink_to(found)


def find_plugin(environ: dict[str, str]) -> bool:
    """Whether ``docker compose`` answers with this environment (a system-wide plugin)."""
    done = subprocess.run(
        ["docker", "compose", "version"], env=environ, capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0


@pytest.fixture
def engine_29(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[str]]]:
    yield from _engine("29", monkeypatch)


@pytest.fixture
def engine_20(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[str]]]:
    yield from _engine("20.10", monkeypatch)


def _engine(kind: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[str]]]:
    with fake_engine(**ENGINES[kind]) as (url, paths):
        monkeypatch.setenv("DOCKER_HOST", url)
        engine = connect_engine(5.0)  # MinAPIVersion read from the engine's version endpoint
        try:
            yield engine, paths
        finally:
            engine.client.close()


# (id, MC_DOCKER_COMPOSE, what is on PATH, engine, extra environment, what detection says)
# what is on PATH: "fake <version>" (the script), "real docker" (CLI + plugin), "real v1".
# what detection says: ("uses", variant, version, passed over, note) or ("unusable", [texts]).
CASES = [
    pytest.param(
        "v1", ["fake 1.25.0"], "20.10", {},
        ("unusable", ["no usable compose (MC_DOCKER_COMPOSE=v1)",
                      "docker-compose 1.25.0 is older than 1.27",
                      "reads a compose file without `version:`",
                      "Install the compose v2 plugin"]),
        id="v1-older-than-1.27",
    ),
    pytest.param(
        "auto", ["fake 1.25.0"], "20.10", {},
        ("unusable", ["`docker compose`: no docker CLI on PATH",
                      "docker-compose 1.25.0 is older than 1.27"]),
        id="auto-only-an-old-v1",
    ),
    pytest.param(
        "v1", ["fake 1.29.2"], "29", {},
        ("unusable", ["docker-compose 1.29.2 speaks Docker API 1.38",
                      "below the minimum 1.44 of Docker engine 29.0.0, which refuses it",
                      "Use the compose v2 plugin (`docker compose`",
                      "or set COMPOSE_API_VERSION=1.44 where that is enough"]),
        id="v1-api-below-the-engines-minimum",
    ),
    pytest.param(
        "v1", ["fake 1.29.2"], "29", {"COMPOSE_API_VERSION": "1.44"},
        ("uses", "standalone v1", "1.29.2", (), ""),
        id="v1-api-raised-by-COMPOSE_API_VERSION",
    ),
    pytest.param(
        "v1", ["fake 1.29.2"], "29", {"COMPOSE_API_VERSION": "1.41"},
        ("unusable", ["would speak Docker API 1.41 (COMPOSE_API_VERSION=1.41)",
                      "below the minimum 1.44", "Set COMPOSE_API_VERSION=1.44"]),
        id="v1-COMPOSE_API_VERSION-below-the-minimum",
    ),
    pytest.param(
        "v1", ["fake 1.29.2"], "20.10", {"COMPOSE_API_VERSION": "1.44"},
        ("unusable", ["above the maximum 1.41 of Docker engine 20.10.24",
                      "Set COMPOSE_API_VERSION=1.41"]),
        id="v1-COMPOSE_API_VERSION-above-the-maximum",
    ),
    pytest.param(
        "v1", ["fake 1.29.2"], "20.10", {},
        ("uses", "standalone v1", "1.29.2", (), ""),
        id="v1-on-engine-20.10",
    ),
    pytest.param(
        "auto", ["fake 1.29.2"], "20.10", {},
        ("uses", "standalone v1", "1.29.2", ("`docker compose`: no docker CLI on PATH",), ""),
        id="auto-passes-over-a-missing-plugin",
    ),
    pytest.param(
        "auto", ["real docker", "fake 1.29.2"], "20.10", {"DOCKER_CONFIG": "<empty>"},
        ("uses", "standalone v1", "1.29.2", ("`docker compose`: the docker CLI at",), ""),
        id="auto-passes-over-a-docker-cli-without-the-plugin",
    ),
    pytest.param(
        "v2", ["fake 1.29.2"], "20.10", {},
        ("unusable", ["`docker compose`: no docker CLI on PATH",
                      "is compose v1 (1.29.2)", "Install the compose v2 plugin"]),
        id="v2-asked-only-v1-here",
    ),
    pytest.param(
        "v1", ["fake 2.40.3"], "20.10", {},
        ("unusable", ["is compose v2 (2.40.3)", "Install docker-compose 1.27 or newer"]),
        id="v1-asked-only-a-standalone-v2-here",
    ),
    pytest.param(
        "auto", [], "20.10", {},
        ("unusable", ["`docker compose`: no docker CLI on PATH", "`docker-compose`: not on PATH",
                      "Install the compose v2 plugin"]),
        id="auto-no-compose-at-all",
    ),
    pytest.param(
        "v1", ["real v1"], "29", {},
        ("uses", "standalone v1", "1.", (), "negotiates its API version with the engine"),
        id="debians-v1-negotiates-with-engine-29",
    ),
    pytest.param(
        "v2", ["real docker"], "29", {},
        ("uses", "v2 plugin", "2.", (), ""),
        id="plugin-with-engine-29",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("choice", "path", "engine", "extra", "expected"), CASES)
def test_detection_says_what_cannot_work(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    choice: ComposeChoice,
    path: list[str],
    engine: str,
    extra: dict[str, str],
    expected: tuple[object, ...],
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    for item in path:
        kind, what = item.split(" ", 1)
        if kind == "fake":
            fake_compose(folder, what)
        else:
            real("docker" if what == "docker" else "docker-compose", folder)
    daemon, asked = request.getfixturevalue("engine_29" if engine == "29" else "engine_20")
    environ = {k: os.environ[k] for k in ("HOME", "DOCKER_CONFIG") if k in os.environ}
    environ |= {"PATH": str(folder), "DOCKER_HOST": os.environ["DOCKER_HOST"], **extra}
    if environ.get("DOCKER_CONFIG") == "<empty>":  # a docker CLI without the user's plugins
        environ["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
        if find_plugin(environ):
            pytest.skip("a system-wide compose plugin is installed: no docker CLI lacks it here")
    if expected[0] == "uses" and expected[1] == "v2 plugin" and not find_plugin(environ):
        require("compose v2 plugin (`docker compose`; .ci/install-compose.sh installs one)")
    if expected[0] == "uses":
        _, variant, version, passed_over, note = expected
        found = find_compose(choice, daemon, environ)
        assert isinstance(found, Compose)
        assert found.variant == variant
        assert isinstance(passed_over, tuple)
        assert len(found.passed_over) == len(passed_over), found.passed_over
        for said, beginning in zip(found.passed_over, passed_over, strict=True):
            assert said.startswith(str(beginning)), found.passed_over
        assert found.version.startswith(str(version))
        assert str(note) in found.note
        if engine == "20.10":  # its minimum is below the pin (1.38): compose is not asked
            assert not [p for p in asked if "/containers/" in p], asked
        return
    with pytest.raises(UnavailableError) as caught:
        find_compose(choice, daemon, environ)
    message = str(caught.value)
    assert message.startswith("docker environment unavailable: no usable compose"), message
    texts = expected[1]
    assert isinstance(texts, list)
    for text in texts:
        assert str(text) in message, message
    assert "\n" not in message  # one line, as every unavailability is


@pytest.mark.slow
def test_auto_moves_on_from_a_compose_the_engine_refuses_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    fake_compose(folder, "1.29.2")
    with fake_engine(**ENGINES["29"]) as (url, _):
        run = NoxRun(
            tmp_path,
            "mission_critical-auto",
            DOCKER_HOST=url,
            MC_DOCKER_COMPOSE="v1",
            MC_ENV_ORDER="docker,local",
            PATH=f"{folder}{os.pathsep}{os.environ['PATH']}",
        )
        code = run.finish()
    out = run.text()
    assert code == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    assert "local (requested: auto)" in out
    assert re.search(
        r"not docker\s*: no usable compose \(MC_DOCKER_COMPOSE=v1\): docker-compose 1.29.2 "
        r"speaks Docker API 1.38 .* below the minimum 1.44 of Docker engine 29.0.0",
        out,
    ), out[-4000:]
    assert "Traceback" not in out
