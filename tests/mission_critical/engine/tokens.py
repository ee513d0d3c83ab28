"""Tokens for the suite's test users: minted with the shared secret, or a fixed list of JWTs.

Minted tokens carry the claims the dialect demands (`[auth.claims]`), and so do the forged,
unsigned and expired ones: a backend must refuse those for their signature or their age, not
for a missing claim. The one without `exp` is correctly signed and lacks only that claim.
Tokens live in `repr=False` fields and never reach a message.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from contract.messages import minted_claims

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contract.dialect import Dialect

AuthMode = Literal["jwt-secret", "static-tokens"]
TOKEN_TTL = 3600.0  # seconds a minted token lives
EXPIRED_AGO = 3600.0  # an expired token expired this long ago (well past any leeway)
MALFORMED_TOKEN = "mc-malformed-token"  # not three dot-separated base64url parts
NO_EXP_NEEDS = (
    "needs a token without exp (only the secret can sign one): set MC_NO_EXP_TOKEN or MC_JWT_SECRET"
)


class UsageError(Exception):
    """The environment does not describe a usable target; the message names the variable."""


class AuthLimitError(Exception):
    """A test needs something the configured auth cannot give; the message says what to set."""


def sign_token(claims: Mapping[str, Any], key: str) -> str:
    with warnings.catch_warnings():
        # The judged backend chose its secret; a short one is not this suite's failure.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(dict(claims), key, algorithm="HS256")


def unsecured_token(claims: Mapping[str, Any]) -> str:
    """`header.claims.` with `alg: none`: what a backend that trusts the header would accept."""

    def encode(part: Mapping[str, Any]) -> str:
        raw = json.dumps(part, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


@dataclass(frozen=True)
class Credential:
    user: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class TokenSource:
    """Tokens for test users, spelled as `dialect` wants them."""

    mode: AuthMode
    session: str  # a per-session nonce in minted user ids, so parallel runs never collide
    dialect: Dialect
    secret: str | None = field(default=None, repr=False)
    static: tuple[Credential, ...] = field(default=(), repr=False)
    expired_token: str | None = field(default=None, repr=False)
    no_exp_token: str | None = field(default=None, repr=False)

    def claims(self, user: str, expires_in: float = TOKEN_TTL) -> dict[str, Any]:
        return minted_claims(self.dialect, user, now=time.time(), expires_in=expires_in)

    def mint(self, user: str, *, expires_in: float = TOKEN_TTL) -> str:
        """A token for `user` signed with MC_JWT_SECRET (jwt-secret mode only)."""
        assert self.secret is not None
        return sign_token(self.claims(user, expires_in), self.secret)

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
        return unsecured_token(self.claims(user))

    def forged(self, user: str) -> str:
        """A well-formed HS256 token for `user`, signed with a key the backend cannot know."""
        return sign_token(self.claims(user), secrets.token_urlsafe(48))

    def unexpiring(self, user: str) -> str:
        """A correctly signed token for `user` with every claim but `exp`, which the contract
        requires; in static mode MC_NO_EXP_TOKEN, else AuthLimitError (signing needs the secret)."""
        if self.secret is None:
            if self.no_exp_token is None:
                raise AuthLimitError(NO_EXP_NEEDS)
            return self.no_exp_token
        claims = self.claims(user)
        del claims["exp"]
        return sign_token(claims, self.secret)

    def expired(self, user: str) -> str:
        """A correctly signed token that has expired; AuthLimitError in static mode without one."""
        if self.mode == "jwt-secret":
            return self.mint(user, expires_in=-EXPIRED_AGO)
        if self.expired_token is None:
            raise AuthLimitError("needs an expired token: set MC_EXPIRED_TOKEN or MC_JWT_SECRET")
        return self.expired_token


def read_claims(token: str, where: str) -> dict[str, Any]:
    """The unverified claims of a static token (only to learn `sub` and `exp`)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise UsageError(f"{where} is not a decodable JWT") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UsageError(f"{where} has no string 'sub' claim (the user id)")
    return claims


@dataclass(frozen=True)
class Static:
    """What a backend whose secret the suite lacks was given: tokens, and the refused kinds."""

    tokens: tuple[Credential, ...] = field(repr=False)
    expired: str | None = field(repr=False)
    no_exp: str | None = field(repr=False)


def read_static(environ: Mapping[str, str]) -> Static:
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
        first = next(i for i, sub in enumerate(subs) if subs.count(sub) > 1)
        second = subs.index(subs[first], first + 1)
        raise UsageError(
            f"MC_TOKENS[{first}] and MC_TOKENS[{second}] are tokens of the same user; "
            f"give one token per user"
        )
    expired = environ.get("MC_EXPIRED_TOKEN", "").strip() or None
    if expired is not None:
        exp = read_claims(expired, "MC_EXPIRED_TOKEN").get("exp")
        if not isinstance(exp, (int, float)) or exp > time.time():
            raise UsageError("MC_EXPIRED_TOKEN has not expired (its 'exp' is missing or ahead)")
    no_exp = environ.get("MC_NO_EXP_TOKEN", "").strip() or None
    if no_exp is not None and "exp" in read_claims(no_exp, "MC_NO_EXP_TOKEN"):
        raise UsageError("MC_NO_EXP_TOKEN has an 'exp' claim: it must be a token without one")
    return Static(tuple(static), expired, no_exp)


def read_tokens(environ: Mapping[str, str], dialect: Dialect) -> TokenSource:
    session = secrets.token_hex(4)
    secret = environ.get("MC_JWT_SECRET", "")
    given = read_static(environ)
    if secret:
        return TokenSource(
            "jwt-secret", session, dialect, secret=secret, expired_token=given.expired
        )
    if given.tokens:
        return TokenSource(
            "static-tokens",
            session,
            dialect,
            static=given.tokens,
            expired_token=given.expired,
            no_exp_token=given.no_exp,
        )
    raise UsageError("set MC_JWT_SECRET (to mint tokens) or MC_TOKENS (comma-separated JWTs)")
