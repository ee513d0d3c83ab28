"""Bearer-token auth for the `ag-ui` dialect, as pure ASGI middleware in front of the run path.

`Authorization: Bearer <jwt>` (the dialect's only method), verified as every dialect's tokens
are (refservice.auth.verify_token: HS256, `sub` and `exp` required, the dialect's claims). A
request without a good one is answered 401 before the app sees it, so no event can go out; two
Authorization headers are 400. The user id reaches the app as `scope["user"]`. Paths other than
the run path (health, anything else) pass untouched. The faults that loosen it are in
refservice.agui.faults; no token ever reaches a log line or a response.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import jwt

from refservice.agui.asgi import header_values, respond
from refservice.auth import AuthError, read_unsigned_user, read_unverified_user, verify_token

if TYPE_CHECKING:
    from contract.dialect import Dialect
    from refservice.agui.asgi import App, Receive, Scope, Send
    from refservice.agui.faults import AguiFault

logger = logging.getLogger("refservice")
CHALLENGE = ("www-authenticate", 'Bearer realm="refservice"')


def bearer_token(values: list[str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (None when there is no header);
    AuthError for a header that is not one."""
    if not values:
        return None
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthError("the Authorization header is not 'Bearer <token>'")
    return credentials.strip()


def verify_without_exp(token: str, secret: str, dialect: Dialect) -> str:
    """The `accept_no_exp` fault: a signed token without `exp` is taken too (still verified)."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        unverified = {}
    if "exp" in unverified:
        return verify_token(token, secret, dialect)
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub"], "verify_aud": False}
        )
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"token is not a valid JWT ({type(exc).__name__})") from exc
    return str(claims["sub"])


class BearerAuth:
    def __init__(
        self, app: App, *, secret: str, dialect: Dialect, fault: AguiFault | None, path: str
    ) -> None:
        self.app = app
        self.secret = secret
        self.dialect = dialect
        self.fault = fault
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        values = header_values(scope, b"authorization")
        if len(values) > 1:
            await respond(send, 400, "the Authorization header must be sent once\n")
            return
        try:
            user = self.identify(values)
        except AuthError as exc:
            await self.refuse(send, exc)
            return
        await self.app({**scope, "user": user}, receive, send)

    def identify(self, values: list[str]) -> str:
        """The verified user; AuthError saying why there is none."""
        if self.fault == "no_auth":
            try:
                return read_unverified_user(bearer_token(values))
            except AuthError:
                return read_unverified_user(None)
        token = bearer_token(values)
        if token is None:
            raise AuthError("no token (present one by: header)")
        if self.fault == "accept_unsigned" and (user := read_unsigned_user(token)):
            return user
        if self.fault == "accept_no_exp":
            return verify_without_exp(token, self.secret, self.dialect)
        return verify_token(token, self.secret, self.dialect)

    async def refuse(self, send: Send, exc: AuthError) -> None:
        if self.fault == "refuse_in_stream":  # a 200 whose only event says no: too late
            logger.info("token refused inside the stream (fault): %s", exc.reason)
            event = json.dumps({"type": "RUN_ERROR", "message": str(exc), "code": "UNAUTHORIZED"})
            start = [(b"content-type", b"text/event-stream; charset=utf-8")]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            await send({"type": "http.response.body", "body": f"data: {event}\n\n".encode()})
            return
        logger.info("request refused with 401: %s", exc.reason)
        await respond(send, 401, f"{exc}\n", (CHALLENGE,))
