"""The decision table of `choose_environment`: observations in, decision (or error) out.

Settings come from `load_settings(tmp_path, environ=...)`, so no file and no process variable
leaks in; Docker is a recorded fake observation (the real probe is tested in integration).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tasks.environments.choose import (
    DOCKER_TO_STAGING,
    NO_ENVIRONMENT,
    Decision,
    Observation,
    Requested,
    choose_environment,
    observe_staging,
)
from tasks.settings import EnvName, Settings, load_settings
from tasks.settings.errors import GateError, NoEnvironmentError, RequiredEnvironmentError

URL = "wss://staging.example.com/ws"
DOCKER_DOWN = "cannot reach the Docker daemon: socket /var/run/docker.sock missing"
DOCKER_UP = "daemon 27.1 and compose v2.29 usable"
LOCAL = "the reference backend runs here"
NO_URL = "STAGING_WEBSOCKET_URL is not set"
NO_FALLBACK = "USE_STAGING_FALLBACK is not true"


def deprecation(flag: str) -> str:
    return (
        f"{flag} is deprecated: use USE_STAGING_FALLBACK=true with "
        "`nox -s mission_critical-auto`, or `nox -s mission_critical-staging`"
    )


@dataclass
class Observer:
    """Answers for docker (as told), staging (the real rule) and local; records each call."""

    settings: Settings
    docker_usable: bool
    calls: list[EnvName] = field(default_factory=list)

    def __call__(self, env: EnvName) -> Observation:
        self.calls.append(env)
        if env == "docker":
            reason = DOCKER_UP if self.docker_usable else DOCKER_DOWN
            return Observation("docker", self.docker_usable, reason)
        if env == "staging":
            return observe_staging(self.settings)
        return Observation("local", usable=True, reason=LOCAL)


def decide(
    tmp_path: Path, environ: dict[str, str], *, docker: bool, requested: Requested = "auto"
) -> tuple[Decision | GateError, list[EnvName]]:
    observer = Observer(load_settings(tmp_path, environ), docker)
    try:
        return choose_environment(requested, observer.settings, observer), observer.calls
    except GateError as exc:
        return exc, observer.calls


# ---- the table, row by row, with the exact strings ---------------------------------------------

FALLBACK = {"STAGING_WEBSOCKET_URL": URL, "USE_STAGING_FALLBACK": "true"}

ROWS: list[tuple[str, bool, dict[str, str], str, tuple[str, ...], list[EnvName]]] = [
    # (id, docker usable, environ, expected env or error class, notes, observed in order)
    ("docker-up", True, {}, "docker", (), ["docker"]),
    ("docker-up-fallback-unused", True, FALLBACK, "docker", (), ["docker"]),
    ("docker-down-nothing-set", False, {}, "local", (), ["docker", "staging", "local"]),
    ("docker-down-url-no-flag", False, {"STAGING_WEBSOCKET_URL": URL}, "local", (),
     ["docker", "staging", "local"]),
    ("docker-down-flag-no-url", False, {"USE_STAGING_FALLBACK": "true"}, "local", (),
     ["docker", "staging", "local"]),
    ("docker-down-fallback", False, FALLBACK, "staging", (DOCKER_TO_STAGING,),
     ["docker", "staging"]),
    ("staging-first", True, {**FALLBACK, "MC_ENV_ORDER": "staging,docker,local"}, "staging", (),
     ["staging"]),
    ("staging-first-unconfigured", True, {"MC_ENV_ORDER": "staging,docker,local"}, "docker", (),
     ["staging", "docker"]),
    ("local-first", False, {"MC_ENV_ORDER": "local,docker"}, "local", (), ["local"]),
    ("no-local-nothing-usable", False, {"MC_ENV_ORDER": "docker,staging"}, "NoEnvironmentError",
     (), ["docker", "staging"]),
    ("docker-only-down", False, {"MC_ENV_ORDER": "docker"}, "NoEnvironmentError", (),
     ["docker"]),
    ("legacy-services", True, {"USE_STAGING_SERVICES": "true", "STAGING_WEBSOCKET_URL": URL},
     "staging", (deprecation("USE_STAGING_SERVICES=true"),), []),
    ("legacy-test-mode", True, {"TEST_MODE": "staging", "STAGING_WEBSOCKET_URL": URL},
     "staging", (deprecation("TEST_MODE=staging"),), []),
    ("legacy-test-mode-fallback", False,
     {"TEST_MODE": "staging_fallback", "STAGING_WEBSOCKET_URL": URL}, "staging",
     (deprecation("TEST_MODE=staging_fallback"),), []),
    ("legacy-without-url", True, {"USE_STAGING_SERVICES": "true"}, "NoEnvironmentError", (), []),
    ("test-mode-docker-is-ignored", False, {"TEST_MODE": "docker"}, "local", (),
     ["docker", "staging", "local"]),
    ("require-docker-met", True, {"MC_REQUIRE_ENV": "docker"}, "docker", (), ["docker"]),
    ("require-docker-unmet", False, {"MC_REQUIRE_ENV": "docker"}, "RequiredEnvironmentError",
     (), ["docker", "staging", "local"]),
    ("require-list-met", False, {**FALLBACK, "MC_REQUIRE_ENV": "docker,staging"}, "staging",
     (DOCKER_TO_STAGING,), ["docker", "staging"]),
    ("require-docker-legacy", True,
     {"MC_REQUIRE_ENV": "docker", "USE_STAGING_SERVICES": "true", "STAGING_WEBSOCKET_URL": URL},
     "RequiredEnvironmentError", (), []),
    ("require-docker-nothing", False, {"MC_REQUIRE_ENV": "docker", "MC_ENV_ORDER": "docker"},
     "NoEnvironmentError", (), ["docker"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("docker", "environ", "expected", "notes", "calls"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_decision_table(
    tmp_path: Path,
    docker: bool,
    environ: dict[str, str],
    expected: str,
    notes: tuple[str, ...],
    calls: list[EnvName],
) -> None:
    outcome, observed = decide(tmp_path, environ, docker=docker)
    assert observed == calls
    if isinstance(outcome, GateError):
        assert type(outcome).__name__ == expected, str(outcome)
        return
    assert outcome.env == expected
    assert outcome.notes == notes
    assert [o.env for o in outcome.considered] == calls


def test_docker_down_and_staging_chosen_says_why_the_others_were_not(tmp_path: Path) -> None:
    outcome, _ = decide(tmp_path, FALLBACK, docker=False)
    assert isinstance(outcome, Decision)
    assert outcome.reason == f"fallback configured: {URL}; not docker: {DOCKER_DOWN}"
    assert outcome.fallbacks == ("local",)


def test_nothing_qualifies_names_each_candidate_and_why(tmp_path: Path) -> None:
    environ = {"MC_ENV_ORDER": "docker,staging", "STAGING_WEBSOCKET_URL": URL}
    outcome, _ = decide(tmp_path, environ, docker=False)
    assert isinstance(outcome, NoEnvironmentError)
    assert outcome.headline == NO_ENVIRONMENT
    assert outcome.rejected == [("docker", DOCKER_DOWN), ("staging", NO_FALLBACK)]
    assert str(outcome).splitlines() == [
        "Failed to start Docker services and no staging fallback configured",
        f"  - docker: {DOCKER_DOWN}",
        f"  - staging: {NO_FALLBACK}",
    ]


def test_a_legacy_flag_without_a_url_says_so(tmp_path: Path) -> None:
    outcome, calls = decide(tmp_path, {"TEST_MODE": "staging"}, docker=True)
    assert isinstance(outcome, NoEnvironmentError)
    assert outcome.headline == f"TEST_MODE=staging asks for staging but {NO_URL}"
    assert outcome.rejected == [("staging", NO_URL)]
    assert calls == []


def test_require_env_names_what_it_needed_and_what_auto_picked(tmp_path: Path) -> None:
    outcome, _ = decide(tmp_path, {"MC_REQUIRE_ENV": "docker"}, docker=False)
    assert isinstance(outcome, RequiredEnvironmentError)
    assert (outcome.required, outcome.chosen) == (("docker",), "local")
    assert str(outcome).startswith("MC_REQUIRE_ENV=docker but the run would judge local (")


@pytest.mark.parametrize("requested", ["docker", "staging", "local"])
def test_an_explicit_request_observes_nothing(tmp_path: Path, requested: Requested) -> None:
    outcome, calls = decide(
        tmp_path, {"USE_STAGING_SERVICES": "true"}, docker=False, requested=requested
    )
    assert isinstance(outcome, Decision)
    assert (outcome.env, outcome.notes, calls) == (requested, (), [])
    assert outcome.reason == f"requested explicitly ({requested})"
    outcome, _ = decide(tmp_path, {"MC_REQUIRE_ENV": "docker"}, docker=True, requested=requested)
    assert isinstance(outcome, Decision if requested == "docker" else RequiredEnvironmentError)


# ---- every combination, against the rules of issue 4 stated independently ----------------------

LEGACY = ["", "USE_STAGING_SERVICES=true", "TEST_MODE=staging", "TEST_MODE=staging_fallback",
          "TEST_MODE=docker"]  # fmt: skip
ORDERS = ["docker,staging,local", "docker,staging", "staging,docker,local", "local,docker",
          "docker", "staging"]  # fmt: skip
REQUIRES = ["", "docker", "docker,staging", "local"]
COMBINATIONS = list(itertools.product([True, False], [True, False], LEGACY, [True, False],
                                      ORDERS, REQUIRES))  # fmt: skip


def expect(
    docker: bool, fallback: bool, legacy: str, url: bool, order: str, require: str
) -> tuple[str, str, tuple[str, ...], list[str]]:
    """(kind, env or headline, notes, observed) from the issue's rules, not from the code."""
    notes: tuple[str, ...] = ()
    observed: list[str] = []
    if legacy in LEGACY[1:4]:
        if not url:
            return "none", f"{legacy} asks for staging but {NO_URL}", (), []
        env, notes = "staging", (deprecation(legacy),)
    else:
        usable = {"docker": docker, "staging": url and fallback, "local": True}
        for env in order.split(","):
            observed.append(env)
            if usable[env]:
                break
        else:
            return "none", NO_ENVIRONMENT, (), observed
        if env == "staging" and "docker" in observed:
            notes = (DOCKER_TO_STAGING,)
    if require and env not in require.split(","):
        return "required", env, notes, observed
    return "chosen", env, notes, observed


@pytest.mark.parametrize(
    ("docker", "fallback", "legacy", "url", "order", "require"),
    COMBINATIONS,
    ids=[
        f"{'up' if d else 'down'}-{'fb' if f else 'nofb'}-{lg or 'nolegacy'}-"
        f"{'url' if u else 'nourl'}-{o}-req={r}"
        for d, f, lg, u, o, r in COMBINATIONS
    ],
)
def test_every_combination(
    tmp_path: Path,
    docker: bool,
    fallback: bool,
    legacy: str,
    url: bool,
    order: str,
    require: str,
) -> None:
    environ = {"MC_ENV_ORDER": order, "MC_REQUIRE_ENV": require}
    environ["USE_STAGING_FALLBACK"] = "true" if fallback else "false"
    if url:
        environ["STAGING_WEBSOCKET_URL"] = URL
    if legacy:
        key, value = legacy.split("=")
        environ[key] = value
    kind, what, notes, observed = expect(docker, fallback, legacy, url, order, require)
    outcome, calls = decide(tmp_path, environ, docker=docker)
    assert calls == observed  # docker is never probed when a legacy flag decides
    if kind == "none":
        assert isinstance(outcome, NoEnvironmentError)
        assert outcome.headline == what
        if what == NO_ENVIRONMENT:
            assert [env for env, _ in outcome.rejected] == observed
            assert all(why for _, why in outcome.rejected)
    elif kind == "required":
        assert isinstance(outcome, RequiredEnvironmentError)
        assert outcome.chosen == what
        assert outcome.required == tuple(require.split(","))
    else:
        assert isinstance(outcome, Decision), str(outcome)
        assert (outcome.env, outcome.notes) == (what, notes)
        if not legacy.startswith(("USE_STAGING", "TEST_MODE=staging")):
            order_list = order.split(",")
            assert outcome.fallbacks == tuple(order_list[order_list.index(what) + 1 :])
