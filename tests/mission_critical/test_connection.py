"""One connection's life: ping, bad input, a large request, the frame limit, a dropped connection.

Rules: ping, bad-input, frame-size, reconnect (and every run rule for the runs they start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pytest

from contract.messages import error_code_of, is_ack_for, start_message
from contract.rules import NO_RUN, Message, RunIds, Violation
from contract.visible import show

from .engine.sockets import new_id, padded_ping
from .test_runs import RUN_RULES

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from contract.dialect import Dialect

    from .engine.check import Check
    from .engine.client import Session

pytestmark = pytest.mark.mission_critical

MESSAGE_TOO_BIG = 1009
LIMIT_KEY = "MC_MAX_FRAME"  # declares a backend's own frame limit (default: the dialect's)
LARGE_REQUEST = 32 * 1024  # bytes: a request of realistic size, a user pasting a document
LARGE_UNANSWERED = (
    "expected the {size}-byte {kind} request (a pasted document; the frame limit is "
    f"{LIMIT_KEY}={{limit}}) to be answered within {{seconds:g}} s; nothing came, so a user who "
    "sends that much gets no answer"
)
LIMIT_UNANSWERED = (
    "expected {pong} to a {size}-byte ping (a frame of exactly the limit) within {seconds:g} s; "
    f"none came, so a frame that size goes unanswered (if the backend's limit is lower, declare "
    f"it with {LIMIT_KEY})"
)
UNKNOWN_TYPE = "mc_no_such_type"
BadKind = Literal["not_json", "not_an_object", "unknown_type", "missing_field"]


def is_type(wanted: str) -> Callable[[Message], bool]:
    return lambda message: message.get("type") == wanted


@pytest.mark.rules("ping", *RUN_RULES, "delivery")
async def test_ping_is_answered_by_pong(mc: Check) -> None:
    (user,) = mc.users(1, "ping")
    session = await mc.connect(user)
    pong = mc.dialect.pong_type
    for moment in ("on an idle connection", "while a run is going"):
        run = await session.start_run() if moment.startswith("while") else None
        await session.ping()
        if await session.take(is_type(pong)) is None:
            detail = f"expected {pong} {moment} within {mc.settings.timeout:g} s; none came"
            mc.broken("ping", user.user, detail, session.seen)
        if run is not None:
            await mc.finish(session, [run])

    def unasked() -> list[Violation]:  # judged at the end: a stray pong may come any time
        if not session.unasked_pongs:
            return []
        detail = (
            f"expected one {pong} per ping ({session.pings_sent} sent); "
            f"got {session.unasked_pongs} that answer no ping"
        )
        return [Violation("ping", NO_RUN, user.user, detail, tuple(session.seen))]

    mc.judge_later(unasked)
    mc.judge(session)


def bad_frames(dialect: Dialect, thread_id: str) -> list[tuple[str, BadKind, str | dict[str, Any]]]:
    """(what, kind, frame). The parse errors and the others alternate, so an answer repeated for
    one frame shows up as the wrong answer for the next instead of standing in for it."""
    missing = start_message(dialect, "start_agent", text=None, thread_id=thread_id)
    return [
        ("a frame that is not JSON", "not_json", "{this is not json"),
        ("an unknown message type", "unknown_type", {"type": UNKNOWN_TYPE}),
        ("a JSON array frame", "not_an_object", "[1, 2, 3]"),
        (
            f"{dialect.start_agent.type} without {dialect.start_agent.text_key}",
            "missing_field",
            missing,
        ),
    ]


def expected_codes(dialect: Dialect, kind: BadKind) -> tuple[str, ...]:
    return {
        "not_json": dialect.not_json_codes,
        "not_an_object": dialect.not_an_object_codes,
        "missing_field": dialect.missing_field_codes,
        "unknown_type": dialect.unknown_type_codes,
    }[kind]


def judge_error_code(
    got: object, allowed: Collection[str], parse_codes: Collection[str], *, was_json: bool
) -> bool:
    """Whether `got` answers the frame: one of `allowed` codes when the dialect fixes them, else
    any non-empty code, and for a frame that was JSON never a parse error's code."""
    if not isinstance(got, str) or not got:
        return False
    if allowed:
        return got in allowed
    return not (was_json and got in parse_codes)


async def answer_bad_frame(
    session: Session, kind: BadKind, frame: str | dict[str, Any]
) -> str | None:
    """Send one bad frame; why its answer is wrong, or None."""
    dialect = session.dialect
    await session.send(frame)
    if kind == "unknown_type" and dialect.unknown_type == "ack":
        ack = await session.take(lambda m: is_ack_for(m, dialect, UNKNOWN_TYPE))
        if ack is None and not session.closed:
            wanted = f"{dialect.ack_type} with {dialect.ack_received_key}={UNKNOWN_TYPE!r}"
            return f"expected {wanted}; none came"
        return None
    error = await session.take(is_type(dialect.error_type))
    if error is None:
        return (
            None
            if session.closed
            else f"expected {dialect.error_type} within {session.endpoint.timeout:g} s; none came"
        )
    got = error_code_of(error, dialect)
    allowed = expected_codes(dialect, kind)
    if judge_error_code(
        got, allowed, dialect.parse_codes, was_json=kind in {"unknown_type", "missing_field"}
    ):
        return None
    wanted = "/".join(allowed) if allowed else "a code of its own"
    return f"expected {dialect.error_code_key} {wanted}; got {show(got)}"


@pytest.mark.rules("bad-input", *RUN_RULES, "delivery")
async def test_bad_input_gets_error_and_connection_stays_usable(mc: Check) -> None:
    (user,) = mc.users(1, "bad-input")
    session = await mc.connect(user)
    dialect = mc.dialect
    thread_id = new_id("thread")
    mc.ledger.add(RunIds(thread_id=thread_id, user_id=user.user))  # a lenient server's run
    for what, kind, frame in bad_frames(dialect, thread_id):
        problem = await answer_bad_frame(session, kind, frame)
        if session.closed:
            closed = f"it closed with {session.close_code}"
            detail = f"expected an answer to {what} and an open connection; {closed}"
            mc.broken("bad-input", user.user, detail, session.seen)
            break
        if problem is not None:
            mc.broken("bad-input", user.user, f"after {what}: {problem}", session.seen)
    if not session.closed:
        run = await session.start_run()
        await mc.finish(session, [run])

    def left_over() -> list[Violation]:  # judged at the end: a repeated answer may come late
        extra = [
            error_code_of(m, dialect) for m in session.inbox if m.get("type") == dialect.error_type
        ]
        if not extra:
            return []
        detail = (
            f"expected one {dialect.error_type} per bad frame and none for a valid run; got {extra}"
        )
        return [Violation("bad-input", NO_RUN, user.user, detail, tuple(session.seen))]

    mc.judge_later(left_over)
    mc.judge(session)


@pytest.mark.rules("frame-size", *RUN_RULES, "delivery")
async def test_large_request_gets_its_run(mc: Check) -> None:
    """A request of realistic size (a pasted document: LARGE_REQUEST bytes, or the frame limit
    when that is smaller) gets its run like any other: every request must get its answer."""
    (user,) = mc.users(1, "large-request")
    session = await mc.connect(user)
    size = min(LARGE_REQUEST, mc.endpoint.max_frame)
    run = await session.start_run(size=size)
    missed = await session.finish_runs([run])
    if not run.entries:  # the frame-size line first: it says what to fix
        kind = mc.dialect.start_agent.type
        detail = LARGE_UNANSWERED.format(
            size=size, kind=kind, limit=mc.endpoint.max_frame, seconds=mc.settings.timeout
        )
        mc.broken("frame-size", user.user, detail, session.seen)
    mc.add(missed)
    mc.judge(session)


@pytest.mark.heavy
@pytest.mark.rules("frame-size", "schema")
async def test_frame_at_the_limit_is_answered_one_byte_more_closes_with_1009(mc: Check) -> None:
    """A frame of exactly the limit is read and answered; one byte more closes the connection
    with 1009. The frame at the limit is a ping, so its answer is a pong.

    Heavy (runs after the timed checks): a backend may take a while to parse a frame this size,
    and no run whose latency is reported may wait behind it.
    """
    (user,) = mc.users(1, "frame-size")
    session = await mc.connect(user)
    limit, size, pong = mc.endpoint.max_frame, mc.endpoint.max_frame + 1, mc.dialect.pong_type
    await session.ping(limit)
    answered = await session.take(is_type(pong)) is not None
    if session.closed:
        closed = f"the connection closed with {session.close_code}"
        detail = f"expected a {limit}-byte frame (the limit, {LIMIT_KEY}) to be read; {closed}"
        mc.broken("frame-size", user.user, detail, session.seen)
    else:
        if not answered:
            detail = LIMIT_UNANSWERED.format(size=limit, pong=pong, seconds=mc.settings.timeout)
            mc.broken("frame-size", user.user, detail, session.seen)
        await session.send(padded_ping(size, mc.dialect.ping_type))
        await session.wait_until(lambda: session.closed)
        code = session.close_code  # before our own close() sets one
        if code != MESSAGE_TOO_BIG:
            problem = "the connection stayed open" if code is None else f"it closed with {code}"
            within = f"within {mc.settings.timeout:g} s of a {size}-byte frame"
            over = f"one byte over {LIMIT_KEY}={limit}"
            detail = f"expected close {MESSAGE_TOO_BIG} {within} ({over}); {problem}"
            mc.broken("frame-size", user.user, detail, session.seen)
    mc.judge(session, require=())


@pytest.mark.rules("reconnect", *RUN_RULES, "delivery")
async def test_reconnect_after_dropped_connection(mc: Check) -> None:
    (user,) = mc.users(1, "reconnect")
    first = await mc.connect(user)
    dropped = await first.start_run()
    started = await first.wait_until(lambda: bool(dropped.entries))
    first.abort()
    mc.judge(first, require=(), dropped=True)
    if not started:  # delivery is broken already: no reason to spend another bound on it
        detail = f"expected the run to start within {mc.settings.timeout:g} s (before the drop)"
        mc.add([Violation("delivery", str(dropped.run_id or NO_RUN), user.user, detail)])
        return
    second = await mc.connect(user, rule="reconnect")
    run = await second.start_run()
    if not await mc.finish(second, [run]):
        detail = "expected a run to complete on the new connection after the drop"
        mc.add([Violation("reconnect", str(run.run_id or NO_RUN), user.user, detail, run.seen)])
    mc.judge(second)
