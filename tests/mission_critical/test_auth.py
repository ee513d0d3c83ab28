"""Rules `greeting` and `auth`: every auth method connects and is greeted; bad tokens never are."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Literal

import pytest
from websockets.exceptions import ConnectionClosed

from contract.routing import Ledger
from contract.rules import EVENT_TYPES, NO_RUN, FrameError, Violation, parse_frame, type_of

from .client import (
    AUTH_METHODS,
    AuthMethod,
    Endpoint,
    HandshakeError,
    Session,
    open_socket,
    read_close_code,
    require_clean,
)
from .environment import MALFORMED_TOKEN, AuthLimitError
from .event_schemas import schema_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from .environment import Credential, Settings

pytestmark = [pytest.mark.mission_critical, pytest.mark.asyncio]

BadToken = Literal["missing", "malformed", "forged", "unsigned", "expired"]
BAD_CASES: list[tuple[BadToken, AuthMethod]] = [
    ("missing", "header"),
    *(
        (bad, method)
        for bad in ("malformed", "forged", "unsigned", "expired")
        for method in AUTH_METHODS
    ),
]
REJECTED_STATUSES = (401, 403)
POLICY_VIOLATION = 1008
UNAUTHENTICATED_START = {
    "type": "start_agent",
    "payload": {"user_request": "must not run", "thread_id": "mc-thread-unauthenticated"},
}


@pytest.mark.parametrize("method", AUTH_METHODS)
async def test_each_auth_method_is_greeted(
    method: AuthMethod,
    endpoint: Endpoint,
    ledger: Ledger,
    users: Callable[[int, str], tuple[Credential, ...]],
) -> None:
    """Greeted, then served as the token's user: a run carries that user's id (rule `ids`)."""
    (user,) = users(1, f"greet-{method}")
    session = await Session.open(
        endpoint, user.user, user.token, ledger, method=method, rule="greeting"
    )
    try:
        run = await session.start_agent()
        await session.wait_until(lambda: run.completed)  # completed-last is judged elsewhere
    finally:
        await session.close()
    require_clean(
        session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES), session.describe()
    )


def describe_frame(frame: str | bytes) -> str:
    try:
        return type_of(parse_frame(frame))
    except FrameError:
        return "<malformed>"


async def probe_rejection(endpoint: Endpoint, token: str | None, method: AuthMethod) -> str | None:
    """Why the backend did not reject `token` (sent by `method`), or None when it did.

    The token is refused when the handshake answers 401/403, or when the server closes the
    accepted connection with 1008 before sending anything, even after a run request.
    """
    try:
        ws = await open_socket(endpoint, token, method)
    except HandshakeError as exc:
        return None if exc.status in REJECTED_STATUSES else str(exc)
    try:
        # Accepted at the handshake: it must close with 1008 and never answer a run request.
        async with asyncio.timeout(endpoint.timeout):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(UNAUTHENTICATED_START))
            frame = await ws.recv()
    except ConnectionClosed:
        code = read_close_code(ws)
        return None if code == POLICY_VIOLATION else f"the connection closed with {code}"
    except TimeoutError:
        return f"the connection stayed open {endpoint.timeout:g} s without close 1008"
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(endpoint.timeout):
                await ws.close()
    return f"the connection was accepted and delivered {describe_frame(frame)}"


@pytest.mark.parametrize(("bad", "method"), BAD_CASES, ids=[f"{b}-{m}" for b, m in BAD_CASES])
async def test_bad_tokens_are_rejected(
    bad: BadToken,
    method: AuthMethod,
    settings: Settings,
    endpoint: Endpoint,
    users: Callable[[int, str], tuple[Credential, ...]],
) -> None:
    (user,) = users(1, f"auth-{bad}")
    token: str | None = None
    try:
        if bad == "malformed":
            token = MALFORMED_TOKEN
        elif bad == "forged":
            token = settings.tokens.forged(user.user)
        elif bad == "unsigned":
            token = settings.tokens.unsigned(user.user)
        elif bad == "expired":
            token = settings.tokens.expired(user.user)
    except AuthLimitError as exc:
        pytest.skip(str(exc))
    problem = await probe_rejection(endpoint, token, method)
    violations = []
    if problem is not None:
        detail = f"expected the {bad} token ({method}) to be refused (HTTP 401/403 or close 1008); "
        violations.append(Violation("auth", NO_RUN, user.user, detail + problem))
    require_clean(violations)
