"""Rules `greeting` and `auth`: every auth method the dialect offers connects and is greeted;
bad tokens never are."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from functools import cache
from typing import TYPE_CHECKING, Literal

import pytest
from websockets.exceptions import ConnectionClosed

from contract.dialect import AUTH_METHODS, DialectError, load_dialect
from contract.messages import error_code_of, start_message
from contract.rules import FrameError, parse_frame, type_of
from contract.visible import show

from .engine.sockets import HandshakeError, open_socket, read_close_code, time_left
from .engine.tokens import MALFORMED_TOKEN
from .test_runs import RUN_RULES

if TYPE_CHECKING:
    from contract.dialect import AuthMethod, Dialect

    from .engine.check import Check
    from .engine.sockets import Endpoint

pytestmark = pytest.mark.mission_critical

BadToken = Literal["missing", "malformed", "forged", "unsigned", "expired", "no-exp"]
BAD_TOKENS: tuple[BadToken, ...] = ("malformed", "forged", "unsigned", "expired", "no-exp")


@cache
def offered_methods() -> tuple[AuthMethod, ...]:
    """The dialect's auth methods, for parametrizing (all of them when MC_CONTRACT is bad: the
    usage error comes at collection's end, naming it)."""
    try:
        return load_dialect(os.environ.get("MC_CONTRACT", "").strip() or "reference").auth_methods
    except DialectError:
        return AUTH_METHODS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    methods = offered_methods()
    if metafunc.definition.name == "test_each_auth_method_is_greeted":
        metafunc.parametrize("method", methods)
    elif metafunc.definition.name == "test_bad_tokens_are_rejected":
        cases = [("missing", methods[0]), *((b, m) for b in BAD_TOKENS for m in methods)]
        metafunc.parametrize(("bad", "method"), cases, ids=[f"{b}-{m}" for b, m in cases])


@pytest.mark.rules("greeting", *RUN_RULES, "delivery")
async def test_each_auth_method_is_greeted(mc: Check, method: AuthMethod) -> None:
    """Greeted, then served as the token's user: a run carries that user's id (rule `ids`)."""
    (user,) = mc.users(1, f"greet-{method}")
    session = await mc.connect(user, method=method, rule="greeting")
    run = await session.start_run()
    await mc.finish(session, [run])
    mc.judge(session)


def frame_problem(frame: str | bytes, dialect: Dialect, errors_before: int) -> str | None:
    """Why `frame`, received on a connection that must be refused, breaks the refusal (after
    `errors_before` allowed error frames), or None when it is the dialect's one error frame."""
    try:
        message = parse_frame(frame)
    except FrameError:
        return "delivered a frame that is not a JSON object (<malformed>)"
    kind = type_of(message)
    if kind != dialect.error_type:
        return f"delivered {show(kind)}"
    got = error_code_of(message, dialect)
    code, close, codes = show(got), dialect.reject_close_code, dialect.reject_error_codes
    if not dialect.reject_error_frame:
        return (
            f"delivered {kind} ({dialect.error_code_key} {code}); the dialect allows no frame "
            f"before its close {close}"
        )
    if codes and got not in codes:
        return (
            f"delivered {kind} with {dialect.error_code_key} {code}; the dialect allows "
            f"{'/'.join(codes)} before its close {close}"
        )
    if errors_before >= 1:
        return (
            f"delivered a second {kind} ({dialect.error_code_key} {code}); the dialect allows "
            f"one error frame before its close {close}"
        )
    return None


async def probe_rejection(
    endpoint: Endpoint, token: str | None, method: AuthMethod, deadline: float
) -> str | None:
    """Why the backend did not reject `token` (sent by `method`), or None when it did.

    Refused: an HTTP status of the dialect's at the handshake, or an accepted connection closed
    with the dialect's close code before anything but (where the dialect allows one) its one
    error frame with one of its codes arrived, even after a run request.
    """
    dialect = endpoint.dialect
    seconds = time_left(endpoint.timeout, deadline)
    try:
        ws = await open_socket(endpoint, token, method, seconds)
    except HandshakeError as exc:
        return None if exc.status in dialect.reject_statuses else str(exc)
    request = start_message(dialect, "start_agent", text="must not run", thread_id="mc-no-thread")
    problem, errors = None, 0
    try:
        async with asyncio.timeout(time_left(endpoint.timeout, deadline)):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(request))
            while (problem := frame_problem(await ws.recv(), dialect, errors)) is None:
                errors += 1
    except ConnectionClosed:
        code = read_close_code(ws)
        wanted = dialect.reject_close_code
        return None if code == wanted else f"the connection closed with {code}, not {wanted}"
    except TimeoutError:
        code = dialect.reject_close_code
        return f"the connection stayed open {seconds:g} s without close {code}"
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(time_left(endpoint.timeout, deadline)):
                await ws.close()
    return f"the connection was accepted and {problem}"


@pytest.mark.rules("auth")
async def test_bad_tokens_are_rejected(mc: Check, bad: BadToken, method: AuthMethod) -> None:
    (user,) = mc.users(1, f"auth-{bad}")
    tokens = mc.settings.tokens
    token: str | None = None
    if bad == "malformed":
        token = MALFORMED_TOKEN
    elif bad == "forged":
        token = mc.token(tokens.forged(user.user))
    elif bad == "unsigned":
        token = mc.token(tokens.unsigned(user.user))
    elif bad == "expired":
        token = mc.token(tokens.expired(user.user))
    elif bad == "no-exp":
        token = mc.token(tokens.unexpiring(user.user))
    with mc.runner.openings.opening():  # the gate's own probe: no run starts while it is out
        problem = await probe_rejection(mc.endpoint, token, method, mc.deadline)
    if problem is None:
        mc.add([])
        return
    dialect = mc.dialect
    refusal = (
        f"HTTP {'/'.join(map(str, dialect.reject_statuses))} or close {dialect.reject_close_code}"
    )
    mc.broken(
        "auth",
        user.user,
        f"expected the {bad} token ({method}) to be refused ({refusal}); {problem}",
    )
