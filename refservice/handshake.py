"""The HTTP side of a connection: health, paths, and who the client is, or why it is refused.

A refused token is answered as the dialect says: HTTP 401 at the handshake, or (a dialect with
`[rejection] error_frame = true`) an accepted connection that gets one error frame and then the
dialect's close code (the `wrong_auth_code` and `repeat_auth_error` faults refuse that way in
every dialect, with a wrong code or two frames). Either way it never gets the greeting or an event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from websockets.typing import Subprotocol

from refservice import __version__, faults
from refservice.auth import (
    AuthError,
    DuplicateHeaderError,
    PresentedToken,
    extract_token,
    find_subprotocol,
    read_unsigned_user,
    read_unverified_user,
    split_subprotocols,
    verify_token,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from contract.dialect import Dialect

logger = logging.getLogger("refservice")


@dataclass(frozen=True)
class Refusal:
    """A token refused after the handshake: the error frames' code and text to send first."""

    code: str
    reason: str
    frames: int = 1


def make_json_response(connection: ServerConnection, status: int, body: object) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


class Gatekeeper:
    """Answers /health and unknown paths, and decides who each WebSocket client is."""

    def __init__(
        self, dialect: Dialect, secret: str, fault: faults.Fault | None, paths: tuple[str, str]
    ) -> None:
        self.dialect = dialect
        self.secret = secret
        self.fault = fault
        self.ws_path, self.health_path = paths
        # connections accepted only to be refused; weak: a handshake that fails later leaves none
        self.refusals: WeakKeyDictionary[ServerConnection, Refusal] = WeakKeyDictionary()

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer /health, 404 unknown paths, refuse bad tokens; let good handshakes through.

        `connection.username` is where websockets keeps the authenticated user (see its
        basic_auth); a refusal to send after accepting waits in `refusals` for the handler.
        """
        path = urlsplit(request.path).path
        if path == self.health_path:
            return self.answer_health(connection)
        if path != self.ws_path:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path: {path}\n")
        try:
            if not faults.checks_tokens(self.fault):
                connection.username = self.identify_unchecked(request)
                return None
            connection.username = self.authenticate(request)
        except DuplicateHeaderError as exc:
            logger.info("handshake refused with 400: %s", exc)
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        except AuthError as exc:
            return self.refuse(connection, exc)
        return None

    def answer_health(self, connection: ServerConnection) -> Response:
        status = faults.health_status(self.fault)
        if status != 200:
            return make_json_response(connection, status, {"status": "failing"})
        body: dict[str, str] = {"status": "ok", "service": "refservice"}
        if self.dialect.version_key:
            body[self.dialect.version_key] = __version__
        return make_json_response(connection, 200, body)

    def find_token(self, request: Request) -> PresentedToken | None:
        return extract_token(
            request.headers.get_all("Authorization"),
            request.headers.get_all("Sec-WebSocket-Protocol"),
            request.path,
            self.dialect,
        )

    def authenticate(self, request: Request) -> str:
        """The verified user id of the handshake; AuthError when there is none."""
        presented = self.find_token(request)
        if presented is None:
            methods = ", ".join(self.dialect.auth_methods)
            raise AuthError(f"no token (present one by: {methods})")
        unsigned = (
            read_unsigned_user(presented.token) if faults.accepts_unsigned(self.fault) else None
        )
        user = unsigned or verify_token(
            presented.token, self.secret, self.dialect, require_exp=faults.requires_exp(self.fault)
        )
        return faults.user_for(self.fault, presented.source, user, self.dialect)

    def identify_unchecked(self, request: Request) -> str:
        """The `no_auth` fault: whoever the token claims to be, or "anonymous"."""
        try:
            presented = self.find_token(request)
        except AuthError:
            presented = None
        return read_unverified_user(None if presented is None else presented.token)

    def refuse(self, connection: ServerConnection, exc: AuthError) -> Response | None:
        after_handshake = faults.refusal_frames(self.fault, self.dialect)
        if after_handshake is not None:
            frames, code = after_handshake
            logger.info("token refused after the handshake (%s): %s", code, exc.reason)
            self.refusals[connection] = Refusal(code, str(exc), frames)
            return None
        logger.info("handshake rejected with 401: %s", exc.reason)
        response = connection.respond(HTTPStatus.UNAUTHORIZED, f"{exc}\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="refservice"'
        return response

    def select_subprotocol(
        self, _connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """Echo the token-carrying subprotocol the client offered, as the contract asks."""
        if "subprotocol" not in self.dialect.auth_methods:
            return None
        chosen = find_subprotocol(split_subprotocols(list(subprotocols)), self.dialect)
        return None if chosen is None else Subprotocol(chosen)
