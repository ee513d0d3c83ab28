"""Rule 4: every variable the suite reads is a harness key of the same name, validated with the
suite's own range and passed on by Target.to_env, or one the gate sets itself (refused as a
setting). Adding a suite variable is one row in KEYS; these tests hold the harness to the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.settings import KEYS, Secret, load_settings
from tasks.settings.errors import SettingsError
from tasks.settings.keys import SET_BY_THE_GATE, field_name
from tasks.target import Target
from tests.mission_critical.engine.environment import UsageError, read_settings

ROOT = Path(__file__).resolve().parents[2]
SUITE_KEYS = [key for key, spec in KEYS.items() if spec.suite]
TARGET = {"MC_WS_URL": "ws://127.0.0.1:8000/ws", "MC_JWT_SECRET": "k" * 40}

# (key, other variables held fixed so only this key's own range counts, good values, bad values)
RANGES: list[tuple[str, dict[str, str], list[str], list[str]]] = [
    ("MC_USERS", {}, ["1", "1000", " 7 "], ["0", "1001", "2.5", "many"]),
    ("MC_TIMEOUT", {"MC_RUN_TIMEOUT": "3600", "MC_GRACE": "0"}, ["0.1", "600", "10"],
     ["0.09", "600.5", "nan", "inf", "soon"]),
    ("MC_RUN_TIMEOUT", {"MC_TIMEOUT": "0.1", "MC_GRACE": "0"}, ["1", "3600", "120"],
     ["0.5", "3601", "long"]),
    ("MC_GRACE", {"MC_TIMEOUT": "10"}, ["0", "10", "0.25"], ["-0.1", "10.5", "nan", "brief"]),
    ("MC_MAX_FRAME", {}, ["64", "268435456", "1048576", ""], ["63", "268435457", "1e6", "big"]),
    ("MC_CONCURRENCY", {}, ["all", "1", "1000"], ["0", "1001", "half"]),
    ("MC_HEALTH_PATH", {}, ["/health", "/", "/v1/healthz", ""], ["health", "v1/health"]),
    ("MC_ALLOW_SKIPS", {}, ["true", "false", "yes", "off"], ["maybe", "2"]),
    ("MC_CONTRACT", {}, ["reference", "netra", " netra ", ""], ["klingon", "/nonexistent.toml"]),
    ("MC_LATENCY_STARTED_P95", {"MC_RUN_TIMEOUT": "3600"}, ["0.001", "3600", "2", ""],
     ["0", "3601", "fast", "nan"]),
    ("MC_LATENCY_THINKING_P95", {"MC_RUN_TIMEOUT": "3600"}, ["0.5", ""], ["-1", "soon"]),
    ("MC_LATENCY_COMPLETED_P95", {"MC_RUN_TIMEOUT": "3600"}, ["30", ""], ["0", "slow"]),
]  # fmt: skip


def harness_accepts(tmp_path: Path, environ: dict[str, str]) -> bool:
    try:
        load_settings(tmp_path, environ)
    except SettingsError:
        return False
    return True


def suite_accepts(environ: dict[str, str]) -> bool:
    try:
        read_settings({**TARGET, **environ})
    except UsageError:
        return False
    return True


CASES = [
    pytest.param(key, fixed, value, ok, id=f"{key}={value.strip()}")
    for key, fixed, good, bad in RANGES
    for value, ok in [*((g, True) for g in good), *((b, False) for b in bad)]
]


@pytest.mark.parametrize(("key", "fixed", "value", "ok"), CASES)
def test_the_harness_accepts_exactly_what_the_suite_accepts(
    tmp_path: Path, key: str, fixed: dict[str, str], value: str, ok: bool
) -> None:
    environ = {**fixed, key: value}
    assert suite_accepts(environ) is ok
    assert harness_accepts(tmp_path, environ) is ok


def test_every_range_row_is_a_suite_key_and_every_suite_key_has_a_row() -> None:
    assert [row[0] for row in RANGES] == SUITE_KEYS


def test_what_the_harness_passes_on_reads_back_as_the_same_value(tmp_path: Path) -> None:
    environ = {"MC_USERS": "7", "MC_TIMEOUT": "0.25", "MC_GRACE": "0.125", "MC_MAX_FRAME": "64"}
    environ |= {"MC_HEALTH_PATH": "/v1/health", "MC_ALLOW_SKIPS": "yes", "MC_CONCURRENCY": "3"}
    environ |= {"MC_RUN_TIMEOUT": "30.5", "MC_CONTRACT": "netra"}
    environ |= {f"MC_LATENCY_{m}_P95": "2.5" for m in ("STARTED", "THINKING", "COMPLETED")}
    settings = load_settings(tmp_path, environ)
    forwarded = settings.suite_env()
    assert sorted(forwarded) == sorted(SUITE_KEYS)
    unset = load_settings(tmp_path, {}).suite_env()
    assert "MC_MAX_FRAME" not in unset  # left empty: the suite's dialect decides
    assert "MC_HEALTH_PATH" not in unset
    assert "MC_LATENCY_COMPLETED_P95" not in unset  # no budget unless one is set
    suite = read_settings({**TARGET, **forwarded})
    for key in SUITE_KEYS:
        name = field_name(key)
        if name == "contract":
            assert suite.dialect == settings.dialect
        elif name.startswith("latency_"):
            metric = "agent_" + name.split("_")[1]
            assert suite.budgets[metric] == getattr(settings, name), key  # type: ignore[index]
        else:
            assert getattr(suite, name) == getattr(settings, name), key


def suite_variables_in_the_docs() -> set[str]:
    text = (ROOT / "docs" / "suite.md").read_text(encoding="utf-8")
    table = text.split("## Variables", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(MC_[A-Z0-9_]+)`", row)}


DOCUMENTED = sorted(suite_variables_in_the_docs())


@pytest.mark.parametrize("name", DOCUMENTED)
def test_every_variable_the_suite_documents_is_owned_or_set_by_the_gate(name: str) -> None:
    owned = set(SUITE_KEYS) | set(SET_BY_THE_GATE) | {"MC_JWT_SECRET"}
    assert name in owned, "add it to KEYS (suite=True) or to SET_BY_THE_GATE"


def test_the_suite_documents_its_variables_in_one_table() -> None:
    assert len(DOCUMENTED) >= 20
    assert set(SUITE_KEYS) <= set(DOCUMENTED)


def test_to_env_sets_every_suite_variable_and_nothing_else(tmp_path: Path) -> None:
    target = Target(
        "staging",
        "wss://h.example/ws",
        "https://h.example",
        "why",
        jwt_secret=Secret("s"),
        tokens=(Secret("t1"), Secret("t2")),
        expired_token=Secret("e"),
        no_exp_token=Secret("n"),
        ca_bundle="/ca.pem",
    )
    budgets = {f"MC_LATENCY_{m}_P95": "9" for m in ("STARTED", "THINKING", "COMPLETED")}
    given = {"MC_MAX_FRAME": "64", "MC_HEALTH_PATH": "/h", **budgets}
    env = target.to_env(load_settings(tmp_path, given))
    everything = set(SUITE_KEYS) | set(SET_BY_THE_GATE) | {"MC_JWT_SECRET"}
    assert set(env) == everything - {"MC_REPORT_DATA"}  # run_suite adds it, next to the JUnit
    assert (env["MC_TOKENS"], env["MC_EXPIRED_TOKEN"], env["MC_GRACE"]) == ("t1,t2", "e", "1")
    assert env["MC_CONCURRENCY"] == "all"
    assert env["MC_NO_EXP_TOKEN"] == "n"
    assert sorted(target.secrets()) == ["e", "n", "s", "t1", "t2"]
