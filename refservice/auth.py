"""Finding the JWT on a handshake request and verifying it (HS256, `sub` and `exp` required,
plus the claims the dialect demands).

The ways to present a token are the dialect's (`[auth] methods`): an `Authorization: Bearer`
header, a `<prefix><token>` subprotocol, or `?<parameter>=` on the URL; the first present wins in
that order. Nothing here does I/O, and no token ever appears in a message or a repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlsplit

import jwt

from contract.messages import claim_problems, token_from_subprotocol

if TYPE_CHECKING:
    from contract.dialect import Dialect

TokenSource = Literal["header", "subprotocol", "query"]
ANONYMOUS = "anonymous"


class DuplicateHeaderError(Exception):
    """A handshake that repeats a header which must come once (answered 400, not 500)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"the {self.name} header must be sent once"


class AuthError(Exception):
    """A token was missing or not acceptable; `reason` never contains the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"authentication failed: {self.reason}"


@dataclass(frozen=True)
class PresentedToken:
    source: TokenSource
    token: str = field(repr=False)


def split_subprotocols(values: list[str]) -> list[str]:
    """Every offered subprotocol, from possibly repeated, comma-separated header values."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def find_subprotocol(offered: list[str], dialect: Dialect) -> str | None:
    """The first offered subprotocol that carries a token in the dialect's form."""
    prefix = dialect.subprotocol_prefix
    return next((item for item in offered if item.startswith(prefix) and item != prefix), None)


def extract_token(
    authorization: list[str], subprotocol_headers: list[str], path: str, dialect: Dialect
) -> PresentedToken | None:
    """The token the client presented by one of the dialect's methods (header, then
    subprotocol, then query), if any; DuplicateHeaderError for two Authorization headers."""
    methods = dialect.auth_methods
    if len(authorization) > 1:
        raise DuplicateHeaderError("Authorization")
    if authorization and "header" in methods:
        scheme, _, credentials = authorization[0].strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return PresentedToken("header", credentials.strip())
    if "subprotocol" in methods:
        offered = find_subprotocol(split_subprotocols(subprotocol_headers), dialect)
        if offered is not None:
            try:
                token = token_from_subprotocol(dialect, offered, (dialect.subprotocol_prefix,))
            except ValueError as exc:
                raise AuthError(str(exc)) from None
            if token:
                return PresentedToken("subprotocol", token)
    if "query" in methods:
        tokens = parse_qs(urlsplit(path).query).get(dialect.query_parameter)
        if tokens and tokens[0]:
            return PresentedToken("query", tokens[0])
    return None


def verify_token(token: str, secret: str, dialect: Dialect, *, require_exp: bool = True) -> str:
    """The user id (`sub`) of a valid HS256 token with the dialect's claims (and `exp`, unless
    `require_exp` is off: the `accept_no_exp` fault); AuthError saying why otherwise."""
    required = ["sub", "exp"] if require_exp else ["sub"]
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": required, "verify_aud": False},  # the dialect checks aud
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError("token signature does not verify") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"token is not a valid JWT ({type(exc).__name__})") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token claim 'sub' is not a non-empty string")
    problems = claim_problems(dialect, claims)
    if problems:
        raise AuthError(f"token {problems[0]}")
    return subject


def read_unverified_user(token: str | None) -> str:
    """The `sub` of any token, unchecked (for the no_auth fault); "anonymous" if there is none."""
    if token is None:
        return ANONYMOUS
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return ANONYMOUS
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject else ANONYMOUS


def read_unsigned_user(token: str) -> str | None:
    """The unverified `sub` of an `alg: none` token (for the accept_unsigned fault), else None."""
    try:
        if str(jwt.get_unverified_header(token).get("alg", "")).lower() != "none":
            return None
    except jwt.InvalidTokenError:
        return None
    user = read_unverified_user(token)
    return None if user == ANONYMOUS else user
