"""Profiles -> one frozen, validated ``Settings``: the only place the harness reads its variables.

Layers, lowest first (a later layer wins):

1. built-in defaults (below);
2. the committed profiles ``.env.local``, ``.env.docker``, ``.env.staging``: each may hold only
   its own environment's keys, so they never contradict each other and all are read every run;
3. ``.env``: personal, git-ignored, may hold any key (this is where secrets go);
4. the process environment: any key.

Values are taken literally (no ``${VAR}`` interpolation). A malformed line, an unknown key in a
profile, or a value that does not parse stops the run naming the file, line and key.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from tasks.errors import SettingsError

EnvName = Literal["docker", "staging", "local"]
ENV_NAMES: tuple[EnvName, ...] = ("docker", "staging", "local")
Group = Literal["common", "docker", "staging", "local"]


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# ---- value parsers: raise ValueError with a short reason --------------------------------------


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}, got {raw!r}")
        return value

    return parse


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {raw!r}")
        return value

    return parse


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _secret(raw: str) -> Secret | None:
    return Secret(raw) if raw else None


def _tokens(raw: str) -> tuple[Secret, ...]:
    return tuple(Secret(t.strip()) for t in raw.split(",") if t.strip())


def _env_list(raw: str) -> tuple[EnvName, ...]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in ENV_NAMES:
            raise ValueError(f"{name!r} is not one of {', '.join(ENV_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError("names an environment twice")
    return tuple(cast("list[EnvName]", names))


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.strip() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return raw.strip()

    return parse


def _url(*schemes: str) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        raw = raw.strip()
        if not raw:
            return None
        try:
            parts = urlsplit(raw)
            _ = parts.port  # raises on a bad port
        except ValueError as exc:
            raise ValueError(f"{raw!r} is not a URL ({exc})") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"{raw!r} is not a {' or '.join(s + '://' for s in schemes)} URL")
        return raw

    return parse


def _path(raw: str) -> Path:
    return Path(_text(raw))


@dataclass(frozen=True)
class Key:
    group: Group
    parse: Callable[[str], object]
    default: str
    doc: str


KEYS: dict[str, Key] = {
    # common: .env or the process environment
    "MC_ENV_ORDER": Key("common", _env_list, "docker,staging,local", "auto's order"),
    "MC_REQUIRE_ENV": Key("common", _env_list, "", "fail unless auto picks one of these"),
    "MC_FALLBACK_ON": Key(
        "common", _choice("unavailable", "any"), "unavailable", "what makes auto fall through"
    ),
    "MC_USERS": Key("common", _count(1, 1000), "25", "concurrent users in the load check"),
    "MC_TIMEOUT": Key("common", _number(0.1, 600), "10", "seconds for one wait in the suite"),
    "MC_ALLOW_SKIPS": Key("common", _bool, "false", "let a skipped test pass the gate"),
    "MC_REPORT_DIR": Key("common", _path, "reports", "where JUnit and JSON reports go"),
    "MC_JWT_SECRET": Key("common", _secret, "", "HS256 secret for local/docker (random if unset)"),
    "MC_EVENT_SHAPE": Key("common", _choice("flat", "data"), "flat", "reference backend's shape"),
    # local
    "MC_LOCAL_HOST": Key("local", _text, "127.0.0.1", "address the local backend binds"),
    "MC_LOCAL_READY_TIMEOUT": Key("local", _number(0.1, 600), "15", "seconds to wait for READY"),
    # docker
    "MC_DOCKER_COMPOSE_FILE": Key("docker", _path, "compose.yaml", "the stack to start"),
    "MC_DOCKER_COMPOSE": Key(
        "docker", _choice("auto", "v1", "v2"), "auto", "which compose runs it"
    ),
    "MC_DOCKER_SERVICE": Key("docker", _text, "refservice", "the service that is the backend"),
    "MC_DOCKER_PORT": Key("docker", _count(1, 65535), "8000", "the service's container port"),
    "MC_DOCKER_DAEMON_TIMEOUT": Key("docker", _number(0.05, 60), "1", "daemon probe bound"),
    "MC_DOCKER_READY_TIMEOUT": Key("docker", _number(1, 3600), "60", "readiness bound"),
    "MC_DOCKER_STOP_TIMEOUT": Key("docker", _count(0, 600), "3", "seconds `down` gives containers"),
    "MC_DOCKER_BASE_IMAGE": Key("docker", _text, "python:3.11-slim", "base image to build on"),
    "MC_DOCKER_SWEEP_AGE": Key("docker", _number(0, 10**7), "3600", "age of a stale stack, s"),
    # staging
    "STAGING_WEBSOCKET_URL": Key("staging", _url("ws", "wss"), "", "the deployment's /ws URL"),
    "STAGING_BACKEND_URL": Key("staging", _url("http", "https"), "", "health base URL"),
    "STAGING_JWT_SECRET": Key("staging", _secret, "", "mint per-user tokens"),
    "STAGING_TOKENS": Key("staging", _tokens, "", "static JWTs, comma-separated"),
    "STAGING_CA_BUNDLE": Key("staging", _optional_text, "", "CA file for wss://"),
    "STAGING_ALLOW_INSECURE_WS": Key("staging", _bool, "false", "allow ws:// to a remote host"),
    "STAGING_PROBE_TIMEOUT": Key("staging", _number(0.1, 600), "5", "bound of each probe"),
    "USE_STAGING_FALLBACK": Key("staging", _bool, "false", "auto may judge staging"),
    "USE_STAGING_SERVICES": Key("staging", _bool, "false", "legacy: go straight to staging"),
    "TEST_MODE": Key(
        "staging", _choice("", "docker", "local", "staging", "staging_fallback"), "", "legacy"
    ),
}

PROFILE_FILES: tuple[tuple[str, Group], ...] = (
    (".env.local", "local"),
    (".env.docker", "docker"),
    (".env.staging", "staging"),
)


@dataclass(frozen=True)
class Settings:
    env_order: tuple[EnvName, ...]
    require_env: tuple[EnvName, ...]
    fallback_on: Literal["unavailable", "any"]
    users: int
    timeout: float
    allow_skips: bool
    report_dir: Path
    jwt_secret: Secret | None
    event_shape: Literal["flat", "data"]
    local_host: str
    local_ready_timeout: float
    docker_compose_file: Path
    docker_compose: Literal["auto", "v1", "v2"]
    docker_service: str
    docker_port: int
    docker_daemon_timeout: float
    docker_ready_timeout: float
    docker_stop_timeout: int
    docker_base_image: str
    docker_sweep_age: float
    staging_websocket_url: str | None
    staging_backend_url: str | None
    staging_jwt_secret: Secret | None
    staging_tokens: tuple[Secret, ...]
    staging_ca_bundle: str | None
    staging_allow_insecure_ws: bool
    staging_probe_timeout: float
    use_staging_fallback: bool
    use_staging_services: bool
    test_mode: str
    root: Path
    sources: Mapping[str, str]  # key -> where its value came from (no values: they may be secret)

    def secrets(self) -> list[str]:
        """Every secret value in force, for scrubbing output."""
        found = [s.reveal() for s in (self.jwt_secret, self.staging_jwt_secret) if s]
        return found + [t.reveal() for t in self.staging_tokens]


def _read_profile(path: Path, group: Group | None) -> dict[str, tuple[str, str]]:
    """key -> (raw value, where) for one file; group None means any key is allowed."""
    from dotenv.parser import parse_stream  # noqa: PLC0415 - dotenv only when a file exists

    values: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            text = binding.original.string  # dotenv counts leading blank lines into a binding
            line = binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")
            where = f"file {path.name}, line {line}"
            if binding.error:  # name the key only if it looks like one: the line may be a secret
                name = text.split("=", 1)[0].strip() if "=" in text else ""
                name = name if name.isidentifier() and len(name) <= 64 else "?"
                raise SettingsError(where, name, "line does not parse")
            if binding.key is None:
                continue
            key = binding.key
            if binding.value is None or not key.isidentifier():  # a bare word may be a secret
                raise SettingsError(where, key if key in KEYS else "?", "not a KEY=value line")
            spec = KEYS.get(key)
            if spec is None:
                raise SettingsError(where, key, "unknown key (see .env.example for the keys)")
            if group is not None and spec.group != group:
                home = ".env" if spec.group == "common" else f".env.{spec.group} or .env"
                raise SettingsError(where, key, f"belongs in {home}, not {path.name}")
            if key in values:
                raise SettingsError(where, key, f"set twice (first at {values[key][1]})")
            values[key] = (binding.value or "", where)
    return values


def load_settings(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read every layer and validate every key; raise ``SettingsError`` on the first bad one."""
    root = root or Path.cwd()
    environ = os.environ if environ is None else environ
    raw: dict[str, tuple[str, str]] = {key: (spec.default, "default") for key, spec in KEYS.items()}
    for name, group in PROFILE_FILES:
        if (root / name).is_file():
            raw.update(_read_profile(root / name, group))
    if (root / ".env").is_file():
        raw.update(_read_profile(root / ".env", None))
    for key in KEYS:
        if key in environ:
            raw[key] = (environ[key], f"environment variable {key}")
    parsed: dict[str, object] = {}
    for key, (value, where) in raw.items():
        try:
            parsed[key] = KEYS[key].parse(value)
        except ValueError as exc:
            raise SettingsError(where, key, str(exc)) from None
    settings = Settings(
        **{key.removeprefix("MC_").lower(): value for key, value in parsed.items()},  # type: ignore[arg-type]
        root=root,
        sources={key: where for key, (_, where) in raw.items()},
    )
    _check_together(settings)
    return settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_together(s: Settings) -> None:
    """Rules that span keys."""
    ws = s.staging_websocket_url
    if ws and ws.startswith("ws://") and not s.staging_allow_insecure_ws:
        host = urlsplit(ws).hostname or ""
        if not is_loopback(host):
            raise SettingsError(
                s.sources["STAGING_WEBSOCKET_URL"],
                "STAGING_WEBSOCKET_URL",
                f"plain ws:// to {host} would send tokens unencrypted; use wss:// "
                "or set STAGING_ALLOW_INSECURE_WS=true",
            )
    if s.staging_ca_bundle and not (s.root / s.staging_ca_bundle).is_file():
        raise SettingsError(s.sources["STAGING_CA_BUNDLE"], "STAGING_CA_BUNDLE", "no such file")
