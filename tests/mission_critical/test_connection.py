"""One connection's life: ping, bad input, an oversized frame, a dropped connection.

Rules: ping, bad-input, frame-size, reconnect (and every run rule for the runs they start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .client import Endpoint, Session, new_id, require_clean
from .contract import NO_RUN, Ledger, Message, RunIds, Violation
from .event_schemas import schema_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from .environment import Credential

pytestmark = [pytest.mark.mission_critical, pytest.mark.asyncio]

MESSAGE_TOO_BIG = 1009


def is_type(wanted: str) -> Callable[[Message], bool]:
    return lambda message: message.get("type") == wanted


async def test_ping_is_answered_by_pong(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "ping")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    violations = []
    try:
        for moment in ("on an idle connection", "while a run is going"):
            run = await session.start_agent() if moment.startswith("while") else None
            await session.send({"type": "ping"})
            if await session.take(is_type("pong")) is None:
                detail = f"expected pong {moment} within {endpoint.timeout:g} s; none came"
                violations.append(Violation("ping", NO_RUN, user.user, detail, tuple(session.seen)))
            if run is not None:
                await session.finish_runs([run])
    finally:
        await session.close()
    violations += session.demux.check(schema_errors=schema_errors)
    require_clean(violations, session.describe())


def bad_frames(thread_id: str) -> list[tuple[str, str | dict[str, Any], str | None]]:
    """(what, frame, required error_code or None for any code of its own)."""
    return [
        ("a frame that is not JSON", "{this is not json", "JSON_PARSE_ERROR"),
        ("a JSON array frame", "[1, 2, 3]", "JSON_PARSE_ERROR"),
        ("an unknown message type", {"type": "mc_no_such_type"}, None),
        (
            "start_agent without user_request",
            {"type": "start_agent", "payload": {"thread_id": thread_id}},
            None,
        ),
    ]


async def test_bad_input_gets_error_and_connection_stays_usable(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "bad-input")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    violations = []

    def broken(detail: str) -> None:
        violations.append(Violation("bad-input", NO_RUN, user.user, detail, tuple(session.seen)))

    try:
        thread_id = new_id("thread")
        ledger.add(RunIds(thread_id=thread_id, user_id=user.user))  # a lenient server's run
        for what, frame, code in bad_frames(thread_id):
            await session.send(frame)
            error = await session.take(is_type("error_message"))
            wanted = f"error_message with error_code {code or '(any)'} after {what}"
            if session.closed:
                broken(
                    f"expected {wanted} and an open connection; it closed with {session.close_code}"
                )
                break
            if error is None:
                broken(f"expected {wanted} within {endpoint.timeout:g} s; none came")
                continue
            got = error.get("error_code")
            if (code is not None and got != code) or not isinstance(got, str) or not got:
                broken(f"expected {wanted}; got error_code={got!r}")
        if not session.closed:
            run = await session.start_agent()
            await session.finish_runs([run])
            violations += session.demux.check(schema_errors=schema_errors)
    finally:
        await session.close()
    require_clean(violations, session.describe())


def oversized_frame(size: int) -> str:
    head, tail = '{"type": "ping", "padding": "', '"}'
    return head + "x" * max(0, size - len(head) - len(tail)) + tail


async def test_oversized_frame_closes_with_1009(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "frame-size")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    size = endpoint.max_frame + 1
    try:
        await session.send(oversized_frame(size))
        await session.wait_until(lambda: session.closed)
        code = session.close_code  # before our own close() sets one
    finally:
        await session.close()
    wanted = (
        f"expected close {MESSAGE_TOO_BIG} within {endpoint.timeout:g} s of a {size}-byte frame"
    )
    if code != MESSAGE_TOO_BIG:
        problem = "the connection stayed open" if code is None else f"it closed with {code}"
        detail = f"{wanted}; {problem}"
        require_clean([Violation("frame-size", NO_RUN, user.user, detail, tuple(session.seen))])


async def test_reconnect_after_dropped_connection(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "reconnect")
    first = await Session.open(endpoint, user.user, user.token, ledger)
    try:
        dropped = await first.start_agent()
        started = await first.wait_until(lambda: bool(dropped.events))
        first.abort()
    finally:
        await first.close()
    violations = []
    if not started:
        detail = f"expected the run to start within {endpoint.timeout:g} s (before the drop)"
        violations.append(Violation("delivery", str(dropped.run_id), user.user, detail))
    second = await Session.open(endpoint, user.user, user.token, ledger, rule="reconnect")
    try:
        run = await second.start_agent()
        if not await second.finish_runs([run]):
            detail = "expected a run to complete on the new connection after the drop"
            violations.append(Violation("reconnect", str(run.run_id), user.user, detail, run.seen))
    finally:
        await second.close()
    violations += second.demux.check(schema_errors=schema_errors)
    require_clean(violations, second.describe())
