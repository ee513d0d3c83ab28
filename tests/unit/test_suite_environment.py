"""The suite's reading of its environment (tests/mission_critical/engine/environment.py)."""

from __future__ import annotations

import re

import pytest

from contract.dialect import load_dialect
from tests.mission_critical.engine.environment import read_settings
from tests.mission_critical.engine.tokens import AuthLimitError, TokenSource, UsageError

TARGET = {"MC_WS_URL": "ws://127.0.0.1:8000/ws", "MC_JWT_SECRET": "k" * 40}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"MC_WS_URL": ""}, "MC_WS_URL is required"),
        ({"MC_WS_URL": "http://127.0.0.1/ws"}, "MC_WS_URL="),
        ({"MC_JWT_SECRET": ""}, "MC_JWT_SECRET"),
        ({"MC_USERS": "0"}, "MC_USERS"),
        ({"MC_USERS": "1001"}, "MC_USERS"),
        ({"MC_USERS": "many"}, "MC_USERS"),
        ({"MC_TIMEOUT": "nan"}, "MC_TIMEOUT"),
        ({"MC_MAX_FRAME": "-1"}, "MC_MAX_FRAME"),
        ({"MC_HEALTH_PATH": "health"}, "MC_HEALTH_PATH"),
        ({"MC_ALLOW_SKIPS": "maybe"}, "MC_ALLOW_SKIPS"),
        ({"MC_JWT_SECRET": "", "MC_TOKENS": "not-a-jwt"}, "MC_TOKENS[0]"),
        ({"MC_CA_BUNDLE": "/nonexistent/ca.pem"}, "MC_CA_BUNDLE"),
        ({"MC_CA_BUNDLE": "/"}, "MC_CA_BUNDLE: /: is a directory"),
        ({"MC_WS_URL": "ws://user:Pw0rd@127.0.0.1/ws"}, "carries user:password@ credentials"),
        ({"MC_WS_URL": "ws://127.0.0.1:99999/ws"}, "invalid host or port"),
        ({"MC_CONTRACT": "klingon"}, "MC_CONTRACT: dialect klingon: no shipped dialect"),
        (
            {"MC_CONTRACT": "ag-ui"},
            "MC_CONTRACT: dialect contract/dialects/ag-ui.toml speaks the sse transport",
        ),
        (
            {"MC_CONTRACT": "/nonexistent/x.toml"},
            "MC_CONTRACT: dialect /nonexistent/x.toml: no such",
        ),
        ({"MC_TIMEOUT": "20", "MC_RUN_TIMEOUT": "10"}, "MC_RUN_TIMEOUT=10 is below MC_TIMEOUT=20"),
        ({"MC_RUN_TIMEOUT": "0"}, "MC_RUN_TIMEOUT"),
        ({"MC_CONCURRENCY": "0"}, "MC_CONCURRENCY"),
        ({"MC_CONCURRENCY": "some"}, "MC_CONCURRENCY"),
        ({"MC_GRACE": "11"}, "MC_GRACE='11' is out of range [0, 10]"),
        ({"MC_LATENCY_COMPLETED_P95": "fast"}, "MC_LATENCY_COMPLETED_P95"),
        ({"MC_USERS": "x" * 500}, "... (500 characters)"),
    ],
)
def test_a_bad_target_is_a_usage_error_naming_the_variable(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(named)):
        read_settings({**TARGET, **change})


def test_defaults_derive_the_health_url_and_never_show_a_secret() -> None:
    query_token = "mc-query-token-value"  # not hex: the session nonce in a repr never holds it
    settings = read_settings({**TARGET, "MC_WS_URL": f"wss://host:9443/ws?token={query_token}"})
    assert settings.health_url == "https://host:9443/health"
    assert (settings.users, settings.timeout, settings.max_frame) == (25, 10.0, 1048576)
    assert (settings.run_timeout, settings.grace, settings.concurrency) == (120.0, 1.0, None)
    assert settings.dialect.name == "reference"
    assert settings.budgets == {}
    facts = repr(settings) + str(settings.provenance())
    assert query_token not in facts
    assert TARGET["MC_JWT_SECRET"] not in facts


def test_the_dialect_gives_the_defaults_it_spells() -> None:
    settings = read_settings({**TARGET, "MC_CONTRACT": "netra", "MC_CONCURRENCY": "1"})
    assert (settings.max_frame, settings.health_path) == (16 * 2**20, "/health")
    assert settings.concurrency == 1
    assert settings.provenance()["mc_dialect"] == "netra"


def test_static_tokens_give_as_many_users_as_tokens() -> None:
    minted = TokenSource("jwt-secret", "s", load_dialect(), secret="k" * 40).users(3, "t")
    settings = read_settings(
        {**TARGET, "MC_JWT_SECRET": "", "MC_TOKENS": ",".join(c.token for c in minted)}
    )
    assert [c.user for c in settings.tokens.users(3, "x")] == [c.user for c in minted]
    with pytest.raises(AuthLimitError, match="MC_JWT_SECRET"):
        settings.tokens.users(4, "x")
    with pytest.raises(AuthLimitError, match="MC_EXPIRED_TOKEN"):
        settings.tokens.expired("someone")
    with pytest.raises(AuthLimitError, match="MC_NO_EXP_TOKEN"):
        settings.tokens.unexpiring("someone")


def test_static_tokens_bring_their_token_without_exp() -> None:
    source = TokenSource("jwt-secret", "s", load_dialect(), secret="k" * 40)
    (user,) = source.users(1, "t")
    unexpiring = source.unexpiring("someone")
    environ = {**TARGET, "MC_JWT_SECRET": "", "MC_TOKENS": user.token}
    settings = read_settings({**environ, "MC_NO_EXP_TOKEN": unexpiring})
    assert settings.tokens.unexpiring("anyone") == unexpiring
    with pytest.raises(UsageError, match="MC_NO_EXP_TOKEN has an 'exp' claim"):
        read_settings({**environ, "MC_NO_EXP_TOKEN": user.token})
