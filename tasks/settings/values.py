"""Value parsers for settings: one raw string in, one typed value out, or a short reason.

A parser raises ``BadValueError`` when it wants to show the value (``expected a number, got 'x'``)
and a plain ``ValueError`` when the reason needs no value. ``BadValueError`` shows the value through
``quoting.quote`` (redacted, cut), and not at all when its key is a secret: the layer that
knows the key decides (``BadValueError.shown``), so no parser can leak a secret by mistake.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import math
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

from tasks.settings.quoting import HIDDEN, quote

EnvName = Literal["docker", "staging", "local"]
T = TypeVar("T")
ENV_NAMES: tuple[EnvName, ...] = ("docker", "staging", "local")
NOT_A_JWT = "{name} is not a JWT (three base64url parts, each a JSON object)"
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GATE_PREFIXES = ("MC_", "STAGING_")  # the gate's own variables (MC_JWT_SECRET aside)
PORT_PLACEHOLDER = "{port}"


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


class BadValueError(ValueError):
    """A value that does not parse; ``template`` says why, ``{value}`` marks where it is shown."""

    def __init__(self, template: str, value: str) -> None:
        super().__init__(template)
        self.template = template
        self.value = value

    def shown(self, *, secret: bool) -> str:
        return self.template.replace("{value}", HIDDEN if secret else quote(self.value))

    def __str__(self) -> str:
        return self.shown(secret=False)


def render(value: object) -> str:
    """A parsed value as text that parses back to it (``true``, ``10``, ``0.25``, ``all``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def boolean(raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise BadValueError("expected true or false, got {value}", raw)


def number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise BadValueError("expected a number, got {value}", raw) from None
        if not (math.isfinite(value) and low <= value <= high):
            raise BadValueError(f"expected a number from {low:g} to {high:g}, got {{value}}", raw)
        return value

    return parse


def count(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise BadValueError("expected a whole number, got {value}", raw) from None
        if not low <= value <= high:
            raise BadValueError(f"expected a whole number from {low} to {high}, got {{value}}", raw)
        return value

    return parse


def count_or_all(low: int, high: int) -> Callable[[str], int | Literal["all"]]:
    whole = count(low, high)

    def parse(raw: str) -> int | Literal["all"]:
        if raw.strip().lower() == "all":
            return "all"
        try:
            return whole(raw)
        except BadValueError:
            expected = f"expected all or a whole number from {low} to {high}"
            raise BadValueError(expected + ", got {value}", raw) from None

    return parse


def optional(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    """``parse``, except that an empty value is None: the suite then uses its own default."""
    return lambda raw: parse(raw) if raw.strip() else None


def text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    if "\x00" in raw:
        raise ValueError("holds a NUL character")
    return raw.strip()


def optional_text(raw: str) -> str | None:
    return text(raw) if raw.strip() else None


def path(raw: str) -> Path:
    return Path(text(raw))


def paths(raw: str) -> tuple[Path, ...]:
    """One path or several, separated by ``:`` as compose's own COMPOSE_FILE is."""
    parts = [part.strip() for part in text(raw).split(":")]
    if "" in parts:
        raise BadValueError("has an empty entry between colons: {value}", raw)
    return tuple(Path(part) for part in parts)


def command(raw: str) -> tuple[str, ...]:
    """A command line split the way a shell would (``shlex``; no shell runs it); empty is ().

    It must hold ``{port}``: the harness picks the port and the backend must listen there.
    """
    if not raw.strip():
        return ()
    try:
        argv = tuple(shlex.split(raw))
    except ValueError as exc:
        raise BadValueError(f"does not split as a shell would ({exc}): {{value}}", raw) from None
    if not any(PORT_PLACEHOLDER in arg for arg in argv):
        raise BadValueError(
            "has no {port} for the harness to fill in (it picks a free port, where the backend "
            "must listen: e.g. `uvicorn app:app --host {host} --port {port}`): {value}",
            raw,
        )
    return argv


def variable_name(raw: str) -> str | None:
    """An environment variable's name (not one of the gate's own); empty is None."""
    name = raw.strip()
    if not name:
        return None
    if not _VARIABLE.fullmatch(name):
        raise BadValueError("{value} is not a valid environment variable name", raw)
    if name.startswith(GATE_PREFIXES) and name != "MC_JWT_SECRET":
        raise BadValueError("{value} is one of the gate's own variables: name your backend's", raw)
    return name


def url_path(raw: str) -> str:
    value = raw.strip()
    if not value.startswith("/"):
        raise BadValueError("must start with '/', got {value}", raw)
    return value


def host(raw: str) -> str:
    """An IP address (IPv6 with or without brackets) or a host name; never a port or a URL."""
    value = raw.strip()
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    labels = bare.rstrip(".").split(".")
    if bare and len(bare) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels):
        return bare
    raise BadValueError("{value} is not a host name or IP address (no port, no scheme)", raw)


def secret(raw: str) -> Secret | None:
    return Secret(raw) if raw else None


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.strip() not in allowed:
            raise BadValueError(f"expected one of {', '.join(allowed)}, got {{value}}", raw)
        return raw.strip()

    return parse


def env_list(*, may_be_empty: bool) -> Callable[[str], tuple[EnvName, ...]]:
    def parse(raw: str) -> tuple[EnvName, ...]:
        if not raw.strip():
            if may_be_empty:
                return ()
            raise ValueError(f"is empty: name at least one of {', '.join(ENV_NAMES)}")
        names = [name.strip() for name in raw.split(",")]
        if "" in names:
            raise BadValueError("has an empty entry between commas: {value}", raw)
        for name in names:
            if name not in ENV_NAMES:
                raise BadValueError(f"{{value}} is not one of {', '.join(ENV_NAMES)}", name)
        if len(set(names)) != len(names):
            raise ValueError("names an environment twice")
        return tuple(cast("list[EnvName]", names))

    return parse


def url(*schemes: str) -> Callable[[str], str | None]:
    """A URL of one of ``schemes`` with a host, a valid port and no credentials; empty is None."""
    kinds = " or ".join(s + "://" for s in schemes)

    def parse(raw: str) -> str | None:
        value = raw.strip()
        if not value:
            return None
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises on a bad port
        except ValueError as exc:
            raise BadValueError(f"{{value}} is not a URL ({exc})", value) from None
        if parts.scheme not in schemes or not parts.hostname:
            raise BadValueError(f"{{value}} is not a {kinds} URL", value)
        if "@" in parts.netloc:
            raise BadValueError(
                "{value} carries credentials (user:password@); the gate authenticates with "
                "tokens (STAGING_JWT_SECRET or STAGING_TOKENS): remove them from the URL",
                value,
            )
        return value

    return parse


# ---- tokens: the unverified claims, to know each one's user (never to trust it) -----------------


def _segment(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def read_claims(token: str, name: str) -> dict[str, Any]:
    """The unverified claims of a JWT; ValueError naming ``name`` (never the token) otherwise."""
    parts = token.split(".")
    header: Any = None
    claims: Any = None
    if len(parts) == 3:
        with contextlib.suppress(ValueError, binascii.Error):
            header, claims = _segment(parts[0]), _segment(parts[1])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError(NOT_A_JWT.format(name=name))  # noqa: TRY004 - a bad value, not a bad type
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise ValueError(f"{name} has no string 'sub' claim (the user id)")
    return claims


def _expiry(claims: dict[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def tokens(key: str) -> Callable[[str], tuple[Secret, ...]]:
    """Comma-separated JWTs, one per user: each decodes, has a ``sub``, has not expired, and
    no two name the same user."""

    def parse(raw: str) -> tuple[Secret, ...]:
        found = [token.strip() for token in raw.split(",") if token.strip()]
        seen: dict[str, int] = {}
        for index, token in enumerate(found):
            claims = read_claims(token, f"{key}[{index}]")
            exp = _expiry(claims)
            if exp is not None and exp <= time.time():
                raise ValueError(f"{key}[{index}] (sub={quote(claims['sub'])}) has expired")
            first = seen.setdefault(claims["sub"], index)
            if first != index:
                raise ValueError(
                    f"{key}[{first}] and {key}[{index}] are tokens for the same user "
                    f"(sub={quote(claims['sub'])}); give one token per user"
                )
        return tuple(Secret(token) for token in found)

    return parse


def no_exp_token(key: str) -> Callable[[str], Secret | None]:
    """One JWT without an ``exp`` claim, for the checks that a backend refuses such a token."""

    def parse(raw: str) -> Secret | None:
        token = raw.strip()
        if not token:
            return None
        if "exp" in read_claims(token, key):
            raise ValueError(f"{key} has an 'exp' claim: it must be a token without one")
        return Secret(token)

    return parse


def expired_token(key: str) -> Callable[[str], Secret | None]:
    """One JWT that has expired (its ``exp`` is in the past), for the expired-token checks."""

    def parse(raw: str) -> Secret | None:
        token = raw.strip()
        if not token:
            return None
        exp = _expiry(read_claims(token, key))
        if exp is None or exp > time.time():
            raise ValueError(f"{key} has not expired (its 'exp' is missing or ahead)")
        return Secret(token)

    return parse
