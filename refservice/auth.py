"""Finding the JWT on a handshake request and verifying it (HS256, `sub` and `exp` required).

Three ways to present a token (docs/protocol.md, "Authentication"): an
`Authorization: Bearer` header, a `jwt.<base64url>` subprotocol, or `?token=` on the URL.
Nothing here does I/O, and no token ever appears in a message or a repr.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import jwt

TokenSource = Literal["header", "subprotocol", "query"]
SUBPROTOCOL_PREFIX = "jwt."
ANONYMOUS = "anonymous"


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


def find_jwt_subprotocol(offered: list[str]) -> str | None:
    return next((item for item in offered if item.startswith(SUBPROTOCOL_PREFIX)), None)


def decode_subprotocol(subprotocol: str) -> str:
    """The JWT inside `jwt.<base64url without padding>`."""
    encoded = subprotocol.removeprefix(SUBPROTOCOL_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise AuthError("the jwt.* subprotocol is not valid base64url") from exc


def extract_token(
    authorization: str | None, subprotocol_headers: list[str], path: str
) -> PresentedToken | None:
    """The token the client presented (header, then subprotocol, then query), if any."""
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return PresentedToken("header", credentials.strip())
    subprotocol = find_jwt_subprotocol(split_subprotocols(subprotocol_headers))
    if subprotocol is not None:
        return PresentedToken("subprotocol", decode_subprotocol(subprotocol))
    tokens = parse_qs(urlsplit(path).query).get("token")
    if tokens and tokens[0]:
        return PresentedToken("query", tokens[0])
    return None


def verify_token(token: str, secret: str) -> str:
    """The user id (`sub`) of a valid HS256 token; AuthError saying why otherwise."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]}
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
