"""The suite's reading of its environment (tests/mission_critical/environment.py)."""

from __future__ import annotations

import re

import pytest

from tests.mission_critical.environment import (
    AuthLimitError,
    TokenSource,
    UsageError,
    read_settings,
)

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
    ],
)
def test_a_bad_target_is_a_usage_error_naming_the_variable(
    change: dict[str, str], named: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(named)):
        read_settings({**TARGET, **change})


def test_defaults_derive_the_health_url_and_never_show_a_secret() -> None:
    settings = read_settings({**TARGET, "MC_WS_URL": "wss://u:p@host:9443/ws?token=abc"})
    assert settings.health_url == "https://host:9443/health"
    assert (settings.users, settings.timeout, settings.max_frame) == (25, 10.0, 1048576)
    facts = repr(settings) + str(settings.provenance())
    assert "abc" not in facts
    assert TARGET["MC_JWT_SECRET"] not in facts
    assert ":p@" not in facts


def test_static_tokens_give_as_many_users_as_tokens() -> None:
    minted = TokenSource("jwt-secret", "s", secret="k" * 40).users(3, "t")
    settings = read_settings(
        {**TARGET, "MC_JWT_SECRET": "", "MC_TOKENS": ",".join(c.token for c in minted)}
    )
    assert [c.user for c in settings.tokens.users(3, "x")] == [c.user for c in minted]
    with pytest.raises(AuthLimitError, match="MC_JWT_SECRET"):
        settings.tokens.users(4, "x")
    with pytest.raises(AuthLimitError, match="MC_EXPIRED_TOKEN"):
        settings.tokens.expired("someone")
