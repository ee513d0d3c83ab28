"""Settings: the layers and their precedence, and every way a profile or a value can be wrong.

The bad-input rules (docs/settings.md) are tables here, one row per case; the same cases run as a
user runs them, through nox, in tests/integration/test_bad_input.py.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import fields
from pathlib import Path

import jwt
import pytest
import trustme

from tasks.settings import KEYS, Secret, Settings, load_settings
from tasks.settings.errors import SettingsError
from tasks.settings.profiles import PROFILE_FILES

ROOT = Path(__file__).resolve().parents[2]
NOW = int(time.time())


def write(root: Path, name: str, *lines: str) -> None:
    (root / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def token(sub: str, exp: int = NOW + 3600) -> str:
    return jwt.encode({"sub": sub, "exp": exp}, "k" * 32, algorithm="HS256")


# ---- layers -------------------------------------------------------------------------------------


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings.env_order == ("docker", "staging", "local")
    assert settings.require_env == ()
    assert settings.staging_probe_timeout == 5.0
    assert settings.staging_websocket_url is None
    assert settings.staging_jwt_secret is None
    assert settings.staging_tokens == ()
    assert settings.use_staging_fallback is False
    assert set(settings.sources) == set(KEYS)
    assert set(settings.sources.values()) == {"default"}


@pytest.mark.parametrize(
    ("layers", "value", "source"),
    [
        ({}, 5.0, "default"),
        ({".env.staging": "7"}, 7.0, "file .env.staging, line 2"),
        ({".env.staging": "7", ".env": "8"}, 8.0, "file .env, line 2"),
        ({".env.staging": "7", ".env": "8", "environ": "9"}, 9.0, "environment variable"),
        ({".env.staging": "7", "environ": "9"}, 9.0, "environment variable"),
        ({".env": "8"}, 8.0, "file .env, line 2"),
    ],
)
def test_a_later_layer_wins(
    tmp_path: Path, layers: dict[str, str], value: float, source: str
) -> None:
    for name in (".env.staging", ".env"):
        if name in layers:
            write(tmp_path, name, "# a comment line", f"STAGING_PROBE_TIMEOUT={layers[name]}")
    environ = {"STAGING_PROBE_TIMEOUT": layers["environ"]} if "environ" in layers else {}
    settings = load_settings(tmp_path, environ)
    assert settings.staging_probe_timeout == value
    assert settings.sources["STAGING_PROBE_TIMEOUT"].startswith(source)


def test_every_profile_is_read_and_dotenv_may_hold_any_key(tmp_path: Path) -> None:
    write(tmp_path, ".env.local", "MC_LOCAL_READY_TIMEOUT=3")
    write(tmp_path, ".env.docker", "MC_DOCKER_PORT=9000")
    write(tmp_path, ".env.staging", "STAGING_WEBSOCKET_URL=wss://staging.example.com/ws")
    write(tmp_path, ".env", "STAGING_JWT_SECRET=s3cret-value", "MC_USERS=3", "MC_DOCKER_PORT=9100")
    settings = load_settings(tmp_path, {})
    assert settings.local_ready_timeout == 3.0
    assert settings.docker_port == 9100
    assert settings.staging_websocket_url == "wss://staging.example.com/ws"
    assert settings.staging_jwt_secret == Secret("s3cret-value")
    assert settings.users == 3


def test_values_are_literal_and_the_process_environment_is_left_alone(tmp_path: Path) -> None:
    one, two = token("one"), token("two")
    write(tmp_path, ".env", "MC_DOCKER_SERVICE=${HOME}", f"STAGING_TOKENS= {one} , {two} ,")
    before = dict(os.environ)
    settings = load_settings(tmp_path, {"HOME": "/elsewhere", "UNRELATED": "x"})
    assert settings.docker_service == "${HOME}"
    assert [t.reveal() for t in settings.staging_tokens] == [one, two]
    assert dict(os.environ) == before


def test_the_committed_profiles_and_the_example_load_cleanly(tmp_path: Path) -> None:
    committed = [name for name, _ in PROFILE_FILES if (ROOT / name).is_file()]
    assert ".env.staging" in committed
    for name in committed:
        shutil.copy(ROOT / name, tmp_path / name)
    settings = load_settings(tmp_path, {})
    assert settings.secrets() == []  # committed profiles hold no secrets
    assert settings.staging_websocket_url is None  # no deployment is named by default
    example = tmp_path / "example"
    example.mkdir()
    shutil.copy(ROOT / ".env.example", example / ".env")
    assert values(load_settings(example, {})) == values(load_settings(tmp_path / "none", {}))


def values(settings: Settings) -> dict[str, object]:
    skip = {"root", "sources"}
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in skip}


def test_the_example_and_the_docs_name_every_key() -> None:
    from dotenv import dotenv_values

    example = dotenv_values(ROOT / ".env.example")
    assert list(example) == [key for key in example if key in KEYS]
    assert set(example) == set(KEYS)
    docs = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert [key for key in KEYS if f"`{key}`" not in docs] == []


# ---- malformed profiles -------------------------------------------------------------------------

MALFORMED = [
    # (file, lines, key, line, problem)
    (".env.staging", ["STAGING_URL=wss://x/ws"], "STAGING_URL", 1, "unknown key"),
    (".env.staging", ["MC_DOCKER_PORT=8000"], "MC_DOCKER_PORT", 1, "belongs in .env.docker"),
    (".env.docker", ["STAGING_PROBE_TIMEOUT=1"], "STAGING_PROBE_TIMEOUT", 1,
     "belongs in .env.staging"),
    (".env.local", ["MC_USERS=3"], "MC_USERS", 1, "belongs in .env, not .env.local"),
    (".env.staging", ["# ok", "this is not a setting"], "?", 2, "line does not parse"),
    (".env.staging", ["", "", "# ok", "", "not-a-key=1"], "?", 5, "not a KEY=value line"),
    (".env.staging", ["", "STAGING_PROBE_TIMEOUT"], "STAGING_PROBE_TIMEOUT", 2, "not a KEY=value"),
    (".env", ['STAGING_TOKENS="a.b.c'], "STAGING_TOKENS", 1, "does not parse"),
    (".env.staging", ["STAGING_BACKEND_URL=staging.example.com"], "STAGING_BACKEND_URL", 1,
     "is not a http:// or https:// URL"),
    (".env.staging", ["STAGING_BACKEND_URL=https://host:99999"], "STAGING_BACKEND_URL", 1,
     "is not a URL"),
    (".env.staging", ["STAGING_WEBSOCKET_URL=https://staging.example.com/ws"],
     "STAGING_WEBSOCKET_URL", 1, "is not a ws:// or wss:// URL"),
    (".env.staging", ["", "STAGING_WEBSOCKET_URL=ws://staging.example.com/ws"],
     "STAGING_WEBSOCKET_URL", 2, "plain ws:// to staging.example.com"),
    (".env.staging", ["STAGING_PROBE_TIMEOUT=fast"], "STAGING_PROBE_TIMEOUT", 1,
     "expected a number, got 'fast'"),
    (".env.staging", ["STAGING_PROBE_TIMEOUT=0"], "STAGING_PROBE_TIMEOUT", 1,
     "expected a number from 0.1 to 600"),
    (".env.docker", ["MC_DOCKER_PORT=70000"], "MC_DOCKER_PORT", 1, "from 1 to 65535"),
    (".env", ["MC_USERS=2.5"], "MC_USERS", 1, "expected a whole number"),
    (".env.staging", ["USE_STAGING_FALLBACK=maybe"], "USE_STAGING_FALLBACK", 1,
     "expected true or false"),
    (".env.staging", ["TEST_MODE=cloud"], "TEST_MODE", 1, "expected one of"),
    (".env", ["MC_ENV_ORDER=docker,cloud"], "MC_ENV_ORDER", 1, "'cloud' is not one of"),
    (".env", ["MC_REQUIRE_ENV=docker,docker"], "MC_REQUIRE_ENV", 1, "twice"),
    (".env.staging", ["STAGING_PROBE_TIMEOUT=5", "STAGING_PROBE_TIMEOUT=6"],
     "STAGING_PROBE_TIMEOUT", 2, "set twice (first at file .env.staging, line 1)"),
    (".env.staging", ["STAGING_CA_BUNDLE=certs/missing.pem"], "STAGING_CA_BUNDLE", 1,
     "no such file"),
    # rule 3: a secret never sits in a committed profile, not even empty
    (".env.staging", ["STAGING_JWT_SECRET=x"], "STAGING_JWT_SECRET", 1, "is a secret"),
    (".env.staging", ["# ok", "STAGING_TOKENS="], "STAGING_TOKENS", 2, "belongs in .env"),
    (".env.staging", ["STAGING_EXPIRED_TOKEN=x"], "STAGING_EXPIRED_TOKEN", 1, "never in the"),
    (".env.docker", ["MC_JWT_SECRET=x"], "MC_JWT_SECRET", 1, "committed .env.docker"),
    (".env.local", ["MC_JWT_SECRET=x"], "MC_JWT_SECRET", 1, "is a secret"),
    # rule 4: nothing silently ignored
    (".env", ["MC_ENV_ORDER="], "MC_ENV_ORDER", 1, "is empty: name at least one"),
    (".env", ["MC_ENV_ORDER=,"], "MC_ENV_ORDER", 1, "empty entry between commas"),
    (".env", ["MC_ENV_ORDER=docker,,local"], "MC_ENV_ORDER", 1, "empty entry"),
    (".env", ["MC_REQUIRE_ENV= , "], "MC_REQUIRE_ENV", 1, "empty entry"),
    (".env", ["MC_WS_URL=ws://127.0.0.1:1/ws"], "MC_WS_URL", 1, "set STAGING_WEBSOCKET_URL"),
    (".env", ["MC_HTTP_URL=http://h"], "MC_HTTP_URL", 1, "set STAGING_BACKEND_URL"),
    (".env", ["MC_TOKENS=a.b.c"], "MC_TOKENS", 1, "set STAGING_TOKENS instead"),
    (".env", ["MC_EXPIRED_TOKEN=a"], "MC_EXPIRED_TOKEN", 1, "set STAGING_EXPIRED_TOKEN"),
    (".env", ["MC_CA_BUNDLE=ca.pem"], "MC_CA_BUNDLE", 1, "set STAGING_CA_BUNDLE"),
    (".env", ["MC_ENV=docker"], "MC_ENV", 1, "nox -s mission_critical-<docker"),
    (".env", ["mc_users=3"], "mc_users", 1, "did you mean MC_USERS?"),
    (".env", ["MC_USER=3"], "MC_USER", 1, "did you mean MC_USERS?"),
    (".env", ["MC_GRACE=-0.1"], "MC_GRACE", 1, "from 0 to 600"),
    (".env", ["MC_GRACE=nan"], "MC_GRACE", 1, "from 0 to 600, got 'nan'"),
    (".env", ["MC_RUN_TIMEOUT=0.5"], "MC_RUN_TIMEOUT", 1, "from 1 to 3600"),
    (".env", ["MC_MAX_FRAME=63"], "MC_MAX_FRAME", 1, "from 64 to 268435456"),
    (".env", ["MC_CONCURRENCY=0"], "MC_CONCURRENCY", 1, "all or a whole number from 1"),
    (".env", ["MC_CONCURRENCY=some"], "MC_CONCURRENCY", 1, "got 'some'"),
    (".env", ["MC_HEALTH_PATH=health"], "MC_HEALTH_PATH", 1, "must start with '/'"),
    (".env.local", ["MC_LOCAL_HOST=127.0.0.1:8000"], "MC_LOCAL_HOST", 1, "not a host name"),
    (".env.local", ["MC_LOCAL_HOST=ws://localhost"], "MC_LOCAL_HOST", 1, "not a host name"),
    (".env.local", ["MC_LOCAL_HOST=bad host"], "MC_LOCAL_HOST", 1, "not a host name"),
    (".env", ["STAGING_WEBSOCKET_URL=wss://u:p@h.example/ws"], "STAGING_WEBSOCKET_URL", 1,
     "carries credentials"),
    (".env", ["STAGING_WEBSOCKET_URL=wss://token@h.example/ws"], "STAGING_WEBSOCKET_URL", 1,
     "carries credentials"),
    (".env", ["STAGING_BACKEND_URL=https://u:p@h.example"], "STAGING_BACKEND_URL", 1,
     "carries credentials"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "lines", "key", "line", "problem"),
    MALFORMED,
    ids=[f"{m[0]}:{m[2][:24]}:{m[4][:20]}" for m in MALFORMED],
)
def test_a_malformed_profile_stops_naming_file_line_and_key(
    tmp_path: Path, name: str, lines: list[str], key: str, line: int, problem: str
) -> None:
    write(tmp_path, name, *lines)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, {})
    error = caught.value
    assert (error.where, error.key) == (f"file {name}, line {line}", key)
    assert problem in error.problem
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"bad setting {key} (file {name}, line {line}): ")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("MC_USERS", "many", "expected a whole number, got 'many'"),
        ("STAGING_WEBSOCKET_URL", "ws://10.0.0.5/ws", "plain ws:// to 10.0.0.5"),
        ("MC_TIMEOUT", "-1", "from 0.1 to 600"),
    ],
)
def test_a_bad_environment_variable_is_named(
    tmp_path: Path, key: str, value: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, {key: value})
    assert (caught.value.where, caught.value.key) == (f"environment variable {key}", key)
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8000/ws", "ws://localhost/ws", "ws://[::1]:9/ws", "wss://remote/ws"]
)
def test_plain_ws_is_fine_on_loopback_and_wss_anywhere(tmp_path: Path, url: str) -> None:
    assert load_settings(tmp_path, {"STAGING_WEBSOCKET_URL": url}).staging_websocket_url == url


def test_plain_ws_to_a_remote_host_needs_the_explicit_setting(tmp_path: Path) -> None:
    environ = {"STAGING_WEBSOCKET_URL": "ws://10.0.0.5/ws", "STAGING_ALLOW_INSECURE_WS": "true"}
    assert load_settings(tmp_path, environ).staging_allow_insecure_ws is True


def test_a_ca_bundle_is_found_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "certs" / "ca.pem"))
    write(tmp_path, ".env.staging", "STAGING_CA_BUNDLE=certs/ca.pem")
    assert load_settings(tmp_path, {}).staging_ca_bundle == "certs/ca.pem"


# ---- secrets ------------------------------------------------------------------------------------


def test_secrets_are_masked_everywhere_but_reveal(tmp_path: Path) -> None:
    secret, token1, token2, expired = "jwt-secret-value-42", token("a"), token("b"), token("c", 1)
    write(tmp_path, ".env", f"STAGING_JWT_SECRET={secret}", f"MC_JWT_SECRET={secret}-local")
    environ = {"STAGING_TOKENS": f"{token1},{token2}", "STAGING_EXPIRED_TOKEN": expired}
    settings = load_settings(tmp_path, environ)
    shown = repr(settings) + str(settings) + f"{settings.staging_jwt_secret}"
    shown += repr(settings.staging_tokens) + repr(dict(settings.sources))
    for value in (secret, token1, token2, expired):
        assert value not in shown
    assert "Secret('***')" in shown
    every = [secret, f"{secret}-local", token1, token2, expired]
    assert sorted(settings.secrets()) == sorted(every)
    assert [key for key, spec in KEYS.items() if spec.secret] == [
        "MC_JWT_SECRET",
        "STAGING_JWT_SECRET",
        "STAGING_TOKENS",
        "STAGING_EXPIRED_TOKEN",
        "STAGING_NO_EXP_TOKEN",
    ]
    assert settings.staging_jwt_secret is not None
    assert settings.staging_jwt_secret.reveal() == secret


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (".env.docker", "STAGING_JWT_SECRET=do-not-show-me"),
        (".env.docker", "do-not-show-me"),
        (".env.docker", 'STAGING_TOKENS="do-not-show-me'),
        (".env.staging", "STAGING_JWT_SECRET=do-not-show-me"),
        (".env.staging", "STAGING_TOKENS=do-not-show-me"),
        (".env", "STAGING_TOKENS=do-not-show-me"),
        (".env", "STAGING_TOKENS=do-not-show-me.do-not-show-me.x"),
        (".env", "STAGING_EXPIRED_TOKEN=do-not-show-me"),
        (".env", "STAGING_SECRET=do-not-show-me"),
        (".env", "do-not-show-me=1"),
        (".env", "MC_JWT_SECRET do-not-show-me"),
    ],
)
def test_a_bad_secret_line_does_not_echo_the_value(tmp_path: Path, name: str, line: str) -> None:
    write(tmp_path, name, line)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, {})
    assert "do-not-show" not in str(caught.value)
