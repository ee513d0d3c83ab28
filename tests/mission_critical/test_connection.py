"""One connection's life: ping, bad input, an oversized frame, a dropped connection.

Rules: ping, bad-input, frame-size, reconnect (and every run rule for the runs they start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from contract.routing import Ledger
from contract.rules import EVENT_TYPES, NO_RUN, Message, RunIds, Violation

from .client import PONG, Endpoint, Session, new_id, padded_ping, require_clean
from .event_schemas import schema_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from .environment import Credential

pytestmark = [pytest.mark.mission_critical, pytest.mark.asyncio]

MESSAGE_TOO_BIG = 1009
JSON_PARSE_ERROR = "JSON_PARSE_ERROR"
ERROR_MESSAGE = "error_message"


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
            await session.ping()
            if await session.take(is_type(PONG)) is None:
                detail = f"expected pong {moment} within {endpoint.timeout:g} s; none came"
                violations.append(Violation("ping", NO_RUN, user.user, detail, tuple(session.seen)))
            if run is not None:
                await session.finish_runs([run])
    finally:
        await session.close()
    if session.unasked_pongs:
        detail = (
            f"expected one pong per ping ({session.pings_sent} sent); "
            f"got {session.unasked_pongs} pong(s) that answer no ping"
        )
        violations.append(Violation("ping", NO_RUN, user.user, detail, tuple(session.seen)))
    violations += session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES)
    require_clean(violations, session.describe())


def bad_frames(thread_id: str) -> list[tuple[str, str | dict[str, Any], str | None]]:
    """(what, frame, required error_code or None for a code of its own: not JSON_PARSE_ERROR).

    The parse errors and the others alternate, so an answer repeated for one frame shows up
    as the wrong code for the next instead of standing in for a frame never answered.
    """
    return [
        ("a frame that is not JSON", "{this is not json", JSON_PARSE_ERROR),
        ("an unknown message type", {"type": "mc_no_such_type"}, None),
        ("a JSON array frame", "[1, 2, 3]", JSON_PARSE_ERROR),
        (
            "start_agent without user_request",
            {"type": "start_agent", "payload": {"thread_id": thread_id}},
            None,
        ),
    ]


def judge_error_code(got: object, code: str | None) -> bool:
    """Whether `got` is the wanted code (`code` None: any non-empty code but JSON_PARSE_ERROR,
    as the frame was JSON)."""
    if not isinstance(got, str) or not got:
        return False
    return got == code if code is not None else got != JSON_PARSE_ERROR


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
            error = await session.take(is_type(ERROR_MESSAGE))
            wanted = f"error_message with error_code {code or '(its own)'} after {what}"
            if session.closed:
                broken(
                    f"expected {wanted} and an open connection; it closed with {session.close_code}"
                )
                break
            if error is None:
                broken(f"expected {wanted} within {endpoint.timeout:g} s; none came")
                continue
            got = error.get("error_code")
            if not judge_error_code(got, code):
                broken(f"expected {wanted}; got error_code={got!r}")
        if not session.closed:
            run = await session.start_agent()
            await session.finish_runs([run])
            violations += session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES)
    finally:
        await session.close()
    extra = [m.get("error_code") for m in session.inbox if m.get("type") == ERROR_MESSAGE]
    if extra:
        broken(f"expected one error_message per bad frame and none for a valid run; got {extra}")
    require_clean(violations, session.describe())


async def test_oversized_frame_closes_with_1009(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    """A frame of exactly the limit is accepted; one byte more closes the connection with 1009.

    The frame at the limit is a ping: its pong shows it was read (a missing pong is the ping
    check's to report; here only a close counts against the limit).
    """
    (user,) = users(1, "frame-size")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    limit, size = endpoint.max_frame, endpoint.max_frame + 1
    violations = []

    def broken(detail: str) -> None:
        violations.append(Violation("frame-size", NO_RUN, user.user, detail, tuple(session.seen)))

    try:
        await session.ping(limit)
        await session.take(is_type(PONG))
        if session.closed:
            broken(
                f"expected a {limit}-byte frame (the limit) to be accepted; "
                f"the connection closed with {session.close_code}"
            )
        else:
            await session.send(padded_ping(size))
            await session.wait_until(lambda: session.closed)
            code = session.close_code  # before our own close() sets one
            if code != MESSAGE_TOO_BIG:
                problem = "the connection stayed open" if code is None else f"it closed with {code}"
                broken(
                    f"expected close {MESSAGE_TOO_BIG} within {endpoint.timeout:g} s of a "
                    f"{size}-byte frame; {problem}"
                )
    finally:
        await session.close()
    violations += session.demux.check(schema_errors=schema_errors)
    require_clean(violations, session.describe())


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
    violations = first.demux.check(schema_errors=schema_errors, dropped=True)
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
    violations += second.demux.check(schema_errors=schema_errors, require=EVENT_TYPES)
    require_clean(violations, second.describe())
