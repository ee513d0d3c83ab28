"""Quoting a value in a message (rule 3), and hosts in URLs (IPv6 in brackets)."""

from __future__ import annotations

import pytest

from tasks.settings.addresses import host_port, is_loopback, url_host
from tasks.settings.quoting import QUOTE_LIMIT, mask_url, quote, redact_url
from tasks.settings.values import BadValueError

REDACTED = [
    # (id, url, shown)
    ("userinfo", "wss://user:Pw0rd@h.example:99999/ws", "wss://***@h.example:99999/ws"),
    ("user-only", "wss://token@h.example/ws", "wss://***@h.example/ws"),
    ("at-in-password", "wss://u:p@ss@h.example/ws", "wss://***@h.example/ws"),
    ("token-query", "https://h.example/ws?token=SECRET&a=1", "https://h.example/ws?token=***&a=1"),
    ("access-token", "ws://h/ws?access_token=S", "ws://h/ws?access_token=***"),
    ("api-key-upper", "ws://h/ws?API_KEY=S", "ws://h/ws?API_KEY=***"),
    ("password", "ws://h/ws?x=1&password=S", "ws://h/ws?x=1&password=***"),
    ("jwt-value", "ws://h/ws?x=eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "ws://h/ws?x=***"),
    ("bare-jwt", "ws://h/ws?eyJhbGciOi.eyJzdWIiOi.c2ln", "ws://h/ws?***"),
    ("fragment", "wss://h/ws#access_token=S", "wss://h/ws"),
    ("no-scheme", "u:p@h.example/ws?jwt=S", "***@h.example/ws?jwt=***"),
    ("left-alone", "http://127.0.0.1:8000/health?verbose=1", "http://127.0.0.1:8000/health?verbose=1"),
    ("no-re-encoding", "ws://h/ws?q=a b&r=%41", "ws://h/ws?q=a b&r=%41"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "shown"), [r[1:] for r in REDACTED], ids=[r[0] for r in REDACTED])
def test_redact_url_hides_credentials_and_nothing_else(url: str, shown: str) -> None:
    assert redact_url(url) == shown


QUOTED = [
    # (id, value, shown exactly, or None to check only what is left out)
    ("short", "fast", "'fast'"),
    ("empty", "", "''"),
    ("control-characters", "a\nb\x1b[31m", "'a\\nb\\x1b[31m'"),
    ("url", "wss://u:Pw0rd@h/ws", "'wss://***@h/ws'"),
    ("query", "/health?token=abc", "'/health?token=***'"),
    ("at-limit", "x" * QUOTE_LIMIT, repr("x" * QUOTE_LIMIT)),
    ("long", "9" * 1_000_000, f"'{'9' * (QUOTE_LIMIT - 3)}...' (1000000 characters)"),
]


@pytest.mark.parametrize(("value", "shown"), [r[1:] for r in QUOTED], ids=[r[0] for r in QUOTED])
def test_quote_redacts_cuts_and_stays_on_one_line(value: str, shown: str) -> None:
    assert quote(value) == shown
    assert "\n" not in quote(value)
    assert len(quote(value)) <= QUOTE_LIMIT + 30


def test_text_that_is_not_a_url_is_masked_all_the_same() -> None:
    with pytest.raises(ValueError):
        redact_url("ws://u:p@[::1/ws?token=S")  # says so: callers may show something else
    assert mask_url("ws://u:p@[::1/ws?token=S") == "ws://***@[::1/ws?token=***"
    assert quote("ws://u:p@[::1/ws?token=S") == "'ws://***@[::1/ws?token=***'"


def test_a_long_url_is_redacted_before_it_is_cut() -> None:
    value = "wss://user:" + "p" * 500 + "@h.example/ws"
    assert quote(value) == "'wss://***@h.example/ws'"
    value = "wss://user:secret@h.example/" + "a" * 500
    assert "secret" not in quote(value)
    assert quote(value).endswith(f"...' ({len(value)} characters)")


def test_a_bad_value_shows_the_value_unless_its_key_is_a_secret() -> None:
    error = BadValueError("expected a number, got {value}", "wss://u:pw@h/?token=t")
    assert error.shown(secret=False) == "expected a number, got 'wss://***@h/?token=***'"
    assert error.shown(secret=True) == "expected a number, got the value (not shown: a secret)"
    assert str(error) == error.shown(secret=False)


@pytest.mark.parametrize(
    ("host", "port", "authority"),
    [
        ("127.0.0.1", 80, "127.0.0.1:80"),
        ("::1", 8000, "[::1]:8000"),
        ("[::1]", 8000, "[::1]:8000"),
        ("fe80::1%eth0", 1, "[fe80::1%eth0]:1"),
        ("localhost", 9, "localhost:9"),
    ],
)
def test_host_port_brackets_ipv6(host: str, port: int, authority: str) -> None:
    assert host_port(host, port) == authority
    assert url_host(host) == authority.rsplit(":", 1)[0]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True), ("10.0.0.1", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
