"""Which compose runs the stack, and whether it can work with this engine at all.

``MC_DOCKER_COMPOSE`` picks the family: ``v2`` is the ``docker compose`` plugin or a standalone
v2 ``docker-compose``; ``v1`` is the Python ``docker-compose`` 1.x; ``auto`` (the default) tries
the plugin, then ``docker-compose`` of either family, and says why it passed one over. A
candidate is usable only if it can run compose.yaml against this engine:

* compose v1 older than 1.27 cannot read a compose file without ``version:`` (compose.yaml has
  none: it follows the compose spec);
* compose v1 speaks one API version: ``COMPOSE_API_VERSION`` when set, else the one it pins for
  compose-spec files (1.38 upstream, from 1.27 to 1.29). An engine whose minimum
  (``MinAPIVersion``: 1.44 for Docker Engine 29) is above that refuses every request. Only then
  is compose itself asked (one ``ps`` of an empty project), since some builds negotiate
  instead of pinning (Debian's 1.29.2 does);
* compose v2 negotiates the API version with the engine.

Nothing here uses v2-only flags: the stack commands are the same for both families.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from tasks.environments.docker.command import run_command
from tasks.environments.docker.engine import Engine
from tasks.settings import KEYS
from tasks.settings.errors import UnavailableError

ComposeChoice = Literal["auto", "v1", "v2"]
ComposeVariant = Literal["v2 plugin", "standalone v1", "standalone v2"]

COMPOSE_PROBE_TIMEOUT = 15.0  # `docker-compose version` starts a Python interpreter
FIRST_SPEC_V1 = (1, 27)  # the first compose v1 that reads a file without `version:`
V1_SPEC_API = "1.38"  # what compose 1.27-1.29 pins for such files (compose/const.py)
PLUGIN = "`docker compose`"
STANDALONE = "`docker-compose`"

INSTALL_V2 = (
    "Install the compose v2 plugin (`docker compose`: Docker's docker-compose-plugin package, "
    "or see docs/docker.md)"
)
HINTS: dict[ComposeChoice, str] = {
    "auto": f"{INSTALL_V2}, or docker-compose 1.27 or newer (`sudo apt-get install "
    "docker-compose`)",
    "v2": f"{INSTALL_V2}, or set MC_DOCKER_COMPOSE=auto",
    "v1": "Install docker-compose 1.27 or newer (`sudo apt-get install docker-compose`), "
    "or set MC_DOCKER_COMPOSE=auto",
}
PROBE_FILE = "services:\n  probe:\n    image: mission-critical-gate/compose-api-probe\n"


@dataclass(frozen=True)
class Compose:
    argv: tuple[str, ...]  # ("docker", "compose") or ("/usr/bin/docker-compose",)
    variant: ComposeVariant
    version: str
    passed_over: tuple[str, ...] = ()  # why auto did not use the candidates before this one
    note: str = ""  # a fact worth a log line (e.g. how a v1 meets the engine's API minimum)

    @property
    def family(self) -> Literal["v1", "v2"]:
        return "v1" if self.variant == "standalone v1" else "v2"

    def describe(self) -> str:
        name = "docker compose" if self.variant == "v2 plugin" else "docker-compose"
        return f"{name} {self.version} ({self.variant})"

    def account(self) -> str:
        """``describe()`` and, when auto passed candidates over, which and why."""
        passed = "; ".join(self.passed_over)
        return f"{self.describe()} (passed over: {passed})" if passed else self.describe()


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str = ""


def version_tuple(text: str) -> tuple[int, ...] | None:
    """(1, 29, 2) for "1.29.2", "v2.40.3" or "1.44"; None for anything else."""
    found = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?", text.strip())
    return tuple(int(part) for part in found.groups() if part is not None) if found else None


# ---- asking a binary its version ----------------------------------------------------------------

_versions: dict[tuple[tuple[str, ...], str], str | Problem] = {}


def _no_plugin(code: int, text: str) -> bool:
    """Whether the docker CLI said it has no ``compose`` command (each version says it its way).

    Older CLIs: "'compose' is not a docker command"; newer ones take ``compose version --short``
    for ``version --short`` and answer "unknown flag: --short" with their usage code, 125.
    """
    return code == 125 or any(
        clue in text for clue in ("is not a docker command", "unknown command", "unknown flag")
    )


def _version_of(argv: tuple[str, ...], label: str, environ: Mapping[str, str]) -> str | Problem:
    """The version ``argv version --short`` prints, or why there is none (cached)."""
    key = argv, environ.get("DOCKER_CONFIG", "")
    if key in _versions:
        return _versions[key]
    try:
        done = run_command(
            [*argv, "version", "--short"], timeout=COMPOSE_PROBE_TIMEOUT, env=environ
        )
    except OSError as exc:
        return Problem(f"{label} cannot be run ({exc.strerror or exc})")
    text = done.output.strip()
    first = (text.splitlines() or ["no output"])[0][:160]
    answer: str | Problem
    if done.timed_out:
        answer = Problem(f"{label} did not answer `version --short` in {COMPOSE_PROBE_TIMEOUT:g}s")
    elif done.returncode != 0 and label == PLUGIN and _no_plugin(done.returncode, text):
        answer = Problem(f"{PLUGIN}: the docker CLI at {argv[0]} has no compose plugin")
    elif done.returncode != 0:
        answer = Problem(f"{label} version --short failed (exit {done.returncode}): {first}")
    elif version_tuple(first) is None:
        answer = Problem(f"{label} version --short printed {first!r}, not a version")
    else:
        answer = first.removeprefix("v")
    _versions[key] = answer
    return answer


def _candidates(choice: ComposeChoice, environ: Mapping[str, str]) -> Iterator[Compose | Problem]:
    """What MC_DOCKER_COMPOSE allows, in order, each found or not (asked only when reached)."""
    path = environ.get("PATH", os.defpath)
    if choice in ("auto", "v2"):
        docker_cli = shutil.which("docker", path=path)
        if docker_cli is None:
            yield Problem(f"{PLUGIN}: no docker CLI on PATH")
        else:
            found = _version_of((docker_cli, "compose"), PLUGIN, environ)
            yield (
                Compose((docker_cli, "compose"), "v2 plugin", found)
                if isinstance(found, str)
                else found
            )
    standalone = shutil.which("docker-compose", path=path)
    if standalone is None:
        yield Problem(f"{STANDALONE}: not on PATH")
        return
    found = _version_of((standalone,), STANDALONE, environ)
    if isinstance(found, Problem):
        yield found
        return
    family = "v1" if found.startswith("1.") else "v2"
    if choice not in ("auto", family):
        yield Problem(f"{STANDALONE} at {standalone} is compose {family} ({found})")
        return
    yield Compose((standalone,), "standalone v1" if family == "v1" else "standalone v2", found)


# ---- what a v1 cannot do ------------------------------------------------------------------------


def _api_below(version: str, engine: Engine) -> bool:
    speaks, minimum = version_tuple(version), version_tuple(engine.min_api_version)
    return speaks is not None and minimum is not None and speaks < minimum


_asked: dict[tuple[object, ...], str | Problem] = {}


def _ask_compose(compose: Compose, engine: Engine, environ: Mapping[str, str]) -> str | Problem:
    """Whether this v1 gets through the engine's API gate: one ``ps`` of an empty project."""
    key = compose.argv, engine.where, engine.version, engine.min_api_version
    if key in _asked:
        return _asked[key]
    with tempfile.TemporaryDirectory(prefix="mcg-compose-probe-") as folder:
        stack, env_file = Path(folder) / "compose.yaml", Path(folder) / "empty.env"
        stack.write_text(PROBE_FILE, encoding="utf-8")
        env_file.touch()
        argv = [*compose.argv, "--project-name", "mcg-api-probe", "--file", str(stack)]
        done = run_command(
            [*argv, "--env-file", str(env_file), "ps", "-q"],
            timeout=COMPOSE_PROBE_TIMEOUT,
            env=environ,
            cwd=Path(folder),
        )
    name = f"docker-compose {compose.version}"
    answer: str | Problem
    if done.returncode == 0:
        answer = (
            f"{name} negotiates its API version with the engine (it does not pin "
            f"{V1_SPEC_API}, below the engine's minimum {engine.min_api_version})"
        )
    elif old := re.search(r"client version (\d+\.\d+) is too old", done.output):
        answer = Problem(
            f"{name} speaks Docker API {old[1]} (its pin for compose files without `version:`), "
            f"below the minimum {engine.min_api_version} of Docker engine {engine.version}, "
            "which refuses it",
            f"Use the compose v2 plugin (`docker compose`; MC_DOCKER_COMPOSE=v2 or auto), or set "
            f"COMPOSE_API_VERSION={engine.min_api_version} where that is enough",
        )
    else:
        why = "timed out" if done.timed_out else f"exit {done.returncode}"
        answer = Problem(f"{name} could not talk to the engine ({why}): {done.tail(1)[:200]}")
    _asked[key] = answer
    return answer


def _check_v1(compose: Compose, engine: Engine, environ: Mapping[str, str]) -> Compose | Problem:
    name = f"docker-compose {compose.version}"
    if (version_tuple(compose.version) or (0,)) < FIRST_SPEC_V1:
        return Problem(
            f"{name} is older than 1.27, the first v1 that reads a compose file without "
            "`version:` (compose.yaml has none)",
            "Install the compose v2 plugin (`docker compose`), or docker-compose 1.27 or newer",
        )
    pinned = environ.get("COMPOSE_API_VERSION", "").strip()
    if pinned.lower() == "auto":
        return compose
    if pinned:
        source = f"COMPOSE_API_VERSION={pinned}"
        if version_tuple(pinned) is None:
            return Problem(f"{source} is not an API version", "Set it to e.g. 1.44, or unset it")
        if _api_below(pinned, engine):
            return Problem(
                f"{name} would speak Docker API {pinned} ({source}), below the minimum "
                f"{engine.min_api_version} of Docker engine {engine.version}",
                f"Set COMPOSE_API_VERSION={engine.min_api_version} (or newer), or use the compose "
                "v2 plugin (`docker compose`)",
            )
        if (version_tuple(pinned) or (0,)) > (version_tuple(engine.api_version) or (999,)):
            return Problem(
                f"{name} would speak Docker API {pinned} ({source}), above the maximum "
                f"{engine.api_version} of Docker engine {engine.version}",
                f"Set COMPOSE_API_VERSION={engine.api_version}, or unset it",
            )
        return compose
    if not _api_below(V1_SPEC_API, engine):
        return compose
    answer = _ask_compose(compose, engine, environ)
    return replace(compose, note=answer) if isinstance(answer, str) else answer


# ---- the choice --------------------------------------------------------------------------------


def find_compose(
    choice: ComposeChoice, engine: Engine, environ: Mapping[str, str] | None = None
) -> Compose:
    """The first usable compose ``choice`` allows, or UnavailableError naming each one's problem."""
    environ = os.environ if environ is None else environ
    environ = {k: v for k, v in environ.items() if k not in KEYS and not k.startswith("MC_")}
    problems: list[Problem] = []
    for candidate in _candidates(choice, environ):
        if isinstance(candidate, Compose) and candidate.family == "v1":
            candidate = _check_v1(candidate, engine, environ)  # noqa: PLW2901 - judged in place
        if isinstance(candidate, Compose):
            return replace(candidate, passed_over=tuple(p.what for p in problems))
        problems.append(candidate)
    fixes = list(dict.fromkeys(p.fix for p in problems if p.fix)) or [HINTS[choice]]
    raise UnavailableError(
        "docker",
        f"no usable compose (MC_DOCKER_COMPOSE={choice}): " + "; ".join(p.what for p in problems),
        ". ".join(fixes),
    )
