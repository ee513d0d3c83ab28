"""Profiles -> one frozen, validated ``Settings``: the only place the harness reads its variables.

Layers, lowest first (a later layer wins):

1. built-in defaults (``keys.KEYS``);
2. the committed profiles ``.env.local``, ``.env.docker``, ``.env.staging``: each may hold only
   its own environment's keys and no secret, so they never contradict each other and all are
   read every run;
3. ``.env``: personal, git-ignored, may hold any key (this is where secrets go);
4. the process environment: any key.

Values are taken literally (no ``${VAR}`` interpolation). The rules (docs/settings.md states
them once): a file the harness reads is a readable, regular UTF-8 text file or the run stops
naming it; a malformed line, an unknown key, a key in the wrong profile, a secret in a committed
profile, or a value that does not parse stops the run naming the file, line and key; a message
quotes values through ``quoting`` and never a secret; the suite's variables are either
harness keys of the same name (validated here, forwarded by ``Target.to_env``) or set by the
gate itself, and then refused as settings, naming the key to use (``SET_BY_THE_GATE``). The
parsers are in ``values``; reading the files that keys name, and the rules between keys,
in ``rules``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from contract.dialect import Dialect, load_dialect
from contract.files import FileError
from tasks.settings import rules
from tasks.settings.addresses import is_loopback
from tasks.settings.errors import SettingsError
from tasks.settings.keys import KEYS, SET_BY_THE_GATE, Group, field_name
from tasks.settings.rules import check_together, read_file
from tasks.settings.values import ENV_NAMES, BadValueError, EnvName, Secret, render

__all__ = [
    "ENV_NAMES",
    "KEYS",
    "EnvName",
    "Secret",
    "Settings",
    "is_loopback",
    "load_settings",
    "read_ca_bundle",
]

SUITE_OWN = "is one of the suite's own variables, which the gate sets: {hint}"
SECRET_IN_PROFILE = (
    "is a secret: it belongs in .env (git-ignored) or the process environment, "
    "never in the committed {name}"
)
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
    run_timeout: float
    grace: float
    max_frame: int | None  # None: the dialect's
    concurrency: int | Literal["all"]
    health_path: str | None  # None: the dialect's
    allow_skips: bool
    contract: str  # a shipped dialect's name or a dialect file (relative to the root)
    latency_started_p95: float | None
    latency_thinking_p95: float | None
    latency_completed_p95: float | None
    report_dir: Path
    jwt_secret: Secret | None
    event_shape: Literal["flat", "data"]
    local_host: str
    local_ready_timeout: float
    local_command: tuple[str, ...]  # () = the reference backend
    local_cwd: Path | None  # None: the repository root
    local_secret_env: str | None  # None: MC_JWT_SECRET
    docker_compose_file: tuple[Path, ...]
    docker_compose: Literal["auto", "v1", "v2"]
    docker_service: str
    docker_port: int
    docker_secret_env: str | None  # None: MC_JWT_SECRET only
    docker_daemon_timeout: float
    docker_ready_timeout: float
    docker_stop_timeout: int
    docker_base_image: str
    docker_sweep_age: float
    staging_websocket_url: str | None
    staging_backend_url: str | None
    staging_jwt_secret: Secret | None
    staging_tokens: tuple[Secret, ...]
    staging_expired_token: Secret | None
    staging_no_exp_token: Secret | None
    staging_ca_bundle: str | None
    staging_allow_insecure_ws: bool
    staging_probe_timeout: float
    staging_ready_timeout: float
    use_staging_fallback: bool
    use_staging_services: bool
    test_mode: str
    root: Path
    sources: Mapping[str, str]  # key -> where its value came from (no values: they may be secret)

    @cached_property
    def dialect(self) -> Dialect:
        """The dialect MC_CONTRACT names (loaded, and so checked, by ``load_settings``)."""
        return load_dialect(self.contract, root=self.root)

    def secrets(self) -> list[str]:
        """Every secret value in force, for scrubbing output."""
        found: list[str] = []
        for key in (key for key, spec in KEYS.items() if spec.secret):
            value = getattr(self, field_name(key))
            held = value if isinstance(value, tuple) else (value,)
            found += [item.reveal() for item in held if isinstance(item, Secret)]
        return found

    def suite_env(self) -> dict[str, str]:
        """The suite's variables that are harness keys of the same name, as the suite reads them
        (one left empty is not passed: the suite then uses its own default, or its dialect's)."""
        values = {key: getattr(self, field_name(key)) for key, spec in KEYS.items() if spec.suite}
        return {key: render(value) for key, value in values.items() if value is not None}


def _key_shown(name: str) -> str:
    """A key as a message may name it: the line may hold a secret where a key should be."""
    return name if name.isidentifier() and len(name) <= 64 else "?"


def _unknown(key: str) -> str:
    if key in SET_BY_THE_GATE:
        return SUITE_OWN.format(hint=SET_BY_THE_GATE[key])
    close = difflib.get_close_matches(key.upper(), KEYS, n=1, cutoff=0.75)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown key ({hint}see .env.example for the keys)"


def _read_profile(root: Path, name: str, group: Group | None) -> dict[str, tuple[str, str]]:
    """key -> (raw value, where) for one file; group None (``.env``) means any key may be there."""
    try:
        text = read_file(root / name, name)
    except FileError as exc:
        raise SettingsError(f"file {name}", "", exc.problem) from None
    if text is None:
        return {}
    import io  # noqa: PLC0415 - only when a file exists

    from dotenv.parser import parse_stream  # noqa: PLC0415

    values: dict[str, tuple[str, str]] = {}
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string  # dotenv counts leading blank lines into a binding
        lead = original[: len(original) - len(original.lstrip())]
        line = binding.original.line + lead.count("\n")
        where = f"file {name}, line {line}"
        if binding.error:  # name the key only if it looks like one: the line may be a secret
            guess = _key_shown(original.split("=", 1)[0].strip())
            raise SettingsError(where, guess, "line does not parse")
        if binding.key is None:
            continue
        key = binding.key
        if binding.value is None or not key.isidentifier():  # a bare word may be a secret
            raise SettingsError(where, key if key in KEYS else "?", "not a KEY=value line")
        spec = KEYS.get(key)
        if spec is None:
            raise SettingsError(where, _key_shown(key), _unknown(key))
        if group is not None and spec.secret:
            raise SettingsError(where, key, SECRET_IN_PROFILE.format(name=name))
        if group is not None and spec.group != group:
            home = ".env" if spec.group == "common" else f".env.{spec.group} or .env"
            raise SettingsError(where, key, f"belongs in {home}, not {name}")
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
        raw.update(_read_profile(root, name, group))
    raw.update(_read_profile(root, ".env", None))
    for key in KEYS:
        if key in environ:
            raw[key] = (environ[key], f"environment variable {key}")
    for name in SET_BY_THE_GATE:
        if environ.get(name, "").strip():
            raise SettingsError(f"environment variable {name}", name, _unknown(name))
    parsed: dict[str, object] = {}
    for key, (value, where) in raw.items():
        spec = KEYS[key]
        try:
            parsed[key] = spec.parse(value)
        except BadValueError as exc:
            raise SettingsError(where, key, exc.shown(secret=spec.secret)) from None
        except ValueError as exc:
            raise SettingsError(where, key, str(exc)) from None
    sources = {key: where for key, (_, where) in raw.items()}
    check_together(parsed, sources, root)
    return Settings(
        **{field_name(key): value for key, value in parsed.items()},  # type: ignore[arg-type]
        root=root,
        sources=sources,
    )


def read_ca_bundle(s: Settings) -> str | None:
    """The text of STAGING_CA_BUNDLE (PEM CA certificates), or None when unset."""
    return rules.read_ca_bundle(s.staging_ca_bundle, s.sources["STAGING_CA_BUNDLE"], s.root)
