"""The suite's target, read once from MC_* environment variables into frozen values.

Nothing else in the suite reads the environment. Every problem is a `UsageError` with one line
naming the variable; secrets and tokens live in `repr=False` fields and never reach a message.
docs/suite.md lists the variables.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from jwt.warnings import InsecureKeyLengthWarning

if TYPE_CHECKING:
    from collections.abc import Mapping

AuthMode = Literal["jwt-secret", "static-tokens"]
MAX_USERS = 1000
TOKEN_TTL = 3600.0  # seconds a minted token lives
EXPIRED_AGO = 3600.0  # an expired token expired this long ago (well past any leeway)
MIN_FRAME = 64  # the smallest frame limit the suite can probe exactly (a padded ping)
MALFORMED_TOKEN = "mc-malformed-token"  # not three dot-separated base64url parts
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
SECRET_QUERY_KEYS = frozenset({"token", "access_token", "jwt", "key", "api_key", "secret"})


class UsageError(Exception):
    """The environment does not describe a usable target; the message names the variable."""


class AuthLimitError(Exception):
    """A test needs something the configured auth cannot give; the message says what to set."""


def sign_token(user: str, key: str, expires_in: float) -> str:
    """A JWT with sub=`user`, expiring `expires_in` seconds from now (negative: in the past)."""
    now = time.time()
    issued = now if expires_in > 0 else now + expires_in - 60
    claims = {"sub": user, "iat": int(issued), "exp": int(now + expires_in)}
    with warnings.catch_warnings():
        # The judged backend chose its secret; a short one is not this suite's failure.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm="HS256")


def unsecured_token(user: str, expires_in: float) -> str:
    """`header.claims.` with `alg: none`: what a backend that trusts the header would accept."""

    def encode(part: dict[str, Any]) -> str:
        raw = json.dumps(part, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": int(now + expires_in)}
    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


@dataclass(frozen=True)
class Credential:
    user: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class TokenSource:
    """Tokens for test users: minted with the shared secret, or a fixed list of static JWTs."""

    mode: AuthMode
    session: str  # a per-session nonce in minted user ids, so parallel runs never collide
    secret: str | None = field(default=None, repr=False)
    static: tuple[Credential, ...] = field(default=(), repr=False)
    expired_token: str | None = field(default=None, repr=False)

    def mint(self, user: str, *, expires_in: float = TOKEN_TTL) -> str:
        """An HS256 token for `user` signed with MC_JWT_SECRET (jwt-secret mode only)."""
        assert self.secret is not None
        return sign_token(user, self.secret, expires_in)

    def users(self, count: int, tag: str) -> tuple[Credential, ...]:
        """`count` distinct users; AuthLimitError when static tokens are too few."""
        if self.mode == "jwt-secret":
            names = [f"mc-{self.session}-{tag}-{index}" for index in range(count)]
            return tuple(Credential(name, self.mint(name)) for name in names)
        if len(self.static) < count:
            raise AuthLimitError(
                f"needs {count} distinct users but MC_TOKENS holds {len(self.static)}: "
                f"set MC_JWT_SECRET, or give MC_TOKENS at least {count} tokens"
            )
        return self.static[:count]

    def unsigned(self, user: str) -> str:
        """A token for `user` with `alg: none` and no signature (RFC 7519 6.1's unsecured JWT)."""
        return unsecured_token(user, TOKEN_TTL)

    def forged(self, user: str) -> str:
        """A well-formed HS256 token for `user`, signed with a key the backend cannot know."""
        return sign_token(user, secrets.token_urlsafe(48), TOKEN_TTL)

    def expired(self, user: str) -> str:
        """A correctly signed token that has expired; AuthLimitError in static mode without one."""
        if self.mode == "jwt-secret":
            return self.mint(user, expires_in=-EXPIRED_AGO)
        if self.expired_token is None:
            raise AuthLimitError("needs an expired token: set MC_EXPIRED_TOKEN or MC_JWT_SECRET")
        return self.expired_token


@dataclass(frozen=True)
class Settings:
    ws_url: str = field(repr=False)  # may carry a token in its query; see `redacted`
    http_url: str = field(repr=False)
    health_path: str
    tokens: TokenSource
    ca_bundle: str | None
    users: int
    timeout: float
    max_frame: int
    grace: float
    allow_skips: bool
    env_name: str
    env_reason: str

    @property
    def health_url(self) -> str:
        return self.http_url.rstrip("/") + self.health_path

    def provenance(self) -> dict[str, str]:
        """What the JUnit report records about this run; never a token or secret."""
        return {
            "mc_env": self.env_name,
            "mc_env_reason": self.env_reason,
            "mc_ws_url": redact_url(self.ws_url),
            "mc_health_url": redact_url(self.health_url),
            "mc_auth_mode": self.tokens.mode,
            "mc_users": str(self.users),
            "mc_timeout": f"{self.timeout:g}",
            "mc_max_frame": str(self.max_frame),
            "mc_grace": f"{self.grace:g}",
            "mc_ca_bundle": self.ca_bundle or "system roots",
            "mc_allow_skips": str(self.allow_skips).lower(),
        }


def redact_url(url: str) -> str:
    """`url` without userinfo, fragment, or the values of token-like query keys."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [
        (key, "***" if key.lower() in SECRET_QUERY_KEYS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def read_url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise UsageError(f"{name} is required (e.g. {name}={schemes[0]}://127.0.0.1:8000/...)")
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise UsageError(
            f"{name}={redact_url(value)!r} is not a {' or '.join(schemes)} URL with a host"
        )
    try:
        _ = parts.port
    except ValueError:
        raise UsageError(f"{name}={redact_url(value)!r} has an invalid port") from None
    return value


def read_number(
    environ: Mapping[str, str], name: str, default: str, low: float, high: float
) -> float:
    text = environ.get(name, "").strip() or default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise UsageError(f"{name}={text!r} is out of range [{low:g}, {high:g}]")
    return value


def read_count(environ: Mapping[str, str], name: str, default: str, low: int, high: int) -> int:
    text = environ.get(name, "").strip() or default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise UsageError(f"{name}={text!r} is out of range [{low}, {high}]")
    return value


def read_flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise UsageError(f"{name}={text!r} is not a boolean (use true or false)")


def read_claims(token: str, where: str) -> dict[str, Any]:
    """The unverified claims of a static token (only to learn `sub` and `exp`)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise UsageError(f"{where} is not a decodable JWT") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UsageError(f"{where} has no string 'sub' claim (the user id)")
    return claims


def read_static(environ: Mapping[str, str]) -> tuple[tuple[Credential, ...], str | None]:
    tokens = [token.strip() for token in environ.get("MC_TOKENS", "").split(",") if token.strip()]
    static = []
    for index, token in enumerate(tokens):
        claims = read_claims(token, f"MC_TOKENS[{index}]")
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and exp <= time.time():
            raise UsageError(f"MC_TOKENS[{index}] (sub={claims['sub']!r}) has expired")
        static.append(Credential(claims["sub"], token))
    subs = [credential.user for credential in static]
    if len(set(subs)) != len(subs):
        raise UsageError("MC_TOKENS holds two tokens for the same user; give one per user")
    expired = environ.get("MC_EXPIRED_TOKEN", "").strip() or None
    if expired is not None:
        exp = read_claims(expired, "MC_EXPIRED_TOKEN").get("exp")
        if not isinstance(exp, (int, float)) or exp > time.time():
            raise UsageError("MC_EXPIRED_TOKEN has not expired (its 'exp' is missing or ahead)")
    return tuple(static), expired


def read_tokens(environ: Mapping[str, str]) -> TokenSource:
    session = secrets.token_hex(4)
    secret = environ.get("MC_JWT_SECRET", "")
    static, expired = read_static(environ)
    if secret:
        return TokenSource("jwt-secret", session, secret=secret, expired_token=expired)
    if static:
        return TokenSource("static-tokens", session, static=static, expired_token=expired)
    raise UsageError("set MC_JWT_SECRET (to mint tokens) or MC_TOKENS (comma-separated JWTs)")


def derive_http_url(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc.rsplit("@", 1)[-1], "", "", ""))


def read_settings(environ: Mapping[str, str]) -> Settings:
    """The validated target; UsageError naming the first bad variable."""
    ws_url = read_url(environ, "MC_WS_URL", ("ws", "wss"))
    http_url = (
        read_url(environ, "MC_HTTP_URL", ("http", "https"))
        if environ.get("MC_HTTP_URL", "").strip()
        else derive_http_url(ws_url)
    )
    health_path = environ.get("MC_HEALTH_PATH", "").strip() or "/health"
    if not health_path.startswith("/"):
        raise UsageError(f"MC_HEALTH_PATH={health_path!r} must start with '/'")
    ca_bundle = environ.get("MC_CA_BUNDLE", "").strip() or None
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise UsageError(f"MC_CA_BUNDLE={ca_bundle!r} is not a readable file")
    timeout = read_number(environ, "MC_TIMEOUT", "10", 0.1, 600)
    return Settings(
        ws_url=ws_url,
        http_url=http_url,
        health_path=health_path,
        tokens=read_tokens(environ),
        ca_bundle=ca_bundle,
        users=read_count(environ, "MC_USERS", "25", 1, MAX_USERS),
        timeout=timeout,
        max_frame=read_count(environ, "MC_MAX_FRAME", "1048576", MIN_FRAME, 256 * 2**20),
        grace=read_number(environ, "MC_GRACE", "0.3", 0, timeout),
        allow_skips=read_flag(environ, "MC_ALLOW_SKIPS"),
        env_name=environ.get("MC_ENV", "").strip() or "unset",
        env_reason=environ.get("MC_ENV_REASON", "").strip() or "unset",
    )
