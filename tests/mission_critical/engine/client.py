"""Real WebSocket client sockets for the suite: connect, authenticate, read, route, wait (bounded).

A `Session` is one user's connection. Its reader task parses every frame, files it in the
connection's log (`routing.Demux`: agent events into the runs they belong to) and keeps every
other message in an inbox. Every wait is bounded: a single wait by the endpoint's `timeout`, a
whole run by its `run_timeout`, and every wait of the session by its check's `deadline`, which
several waits or runs one after another share. Nothing here judges: the checks do, with
`contract`. Tokens never appear in a message: anything quoted from websockets is scrubbed.
Requests are spelled by the dialect (`contract.messages`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from contract.ledger import Ledger
from contract.messages import StartKind, ping_message, start_message, start_spec, subprotocol_for
from contract.routing import Demux, RunChecker
from contract.rules import (
    NO_RUN,
    FrameError,
    Message,
    RuleId,
    RunIds,
    Violation,
    check_greeting,
    format_violations,
    is_event,
    normalize,
    parse_frame,
    type_of,
)

from .bounds import least_left, why_unfinished
from .slots import Openings, UserSlots
from .sockets import (
    CLOSE_BOUND,
    EDGE_HINT,
    Endpoint,
    HandshakeError,
    TimedConnection,
    new_id,
    open_socket,
    padded_ping,
    padded_request,
    read_close_code,
    time_left,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from contract.dialect import AuthMethod

RUN_REQUEST = "mission-critical check: think, call one tool, answer"
RAW_LIMIT = 2000  # characters of a frame kept for the report


class ContractError(Exception):
    """A scenario found broken rules; the message is one `[rule] ...` line per violation."""

    def __init__(
        self,
        violations: Sequence[Violation],
        context: str = "",
        refused: HandshakeError | None = None,  # the edge's refusal that caused it, if one did
    ) -> None:
        super().__init__(format_violations(violations))
        self.violations = tuple(violations)
        self.context = context
        self.refused = refused

    def __str__(self) -> str:
        text = format_violations(self.violations)
        return f"{text}\n{self.context}" if self.context else text


@dataclass(frozen=True)
class Waiter:
    """One pending `Session.wait_until`: its predicate, and the future the reader resolves."""

    predicate: Callable[[], bool]
    woken: asyncio.Future[None]

    def check(self, *, closed: bool) -> None:
        """Resolve the future when the predicate holds or the connection closed; a predicate
        that raises hands its exception to the waiter, not to the reader."""
        try:
            held = closed or self.predicate()
        except Exception as exc:  # re-raised in the waiting task
            self.woken.set_exception(exc)
            return
        if held:
            self.woken.set_result(None)


class Session:
    """One user's live connection; create with `await Session.open(...)`."""

    def __init__(
        self,
        ws: TimedConnection,
        user: str,
        endpoint: Endpoint,
        ledger: Ledger,
        slots: UserSlots,
        deadline: float = float("inf"),
        openings: Openings | None = None,
    ) -> None:
        self.ws = ws
        self.user = user
        self.endpoint = endpoint
        self.deadline = deadline  # monotonic: no wait of this session lasts past it
        self.openings = openings or Openings()
        self.dialect = endpoint.dialect
        self.slots = slots
        self.demux = Demux(user, ledger)
        self.opened_at = time.monotonic()
        self.inbox: list[Message] = []  # non-event messages not taken yet
        self.seen: list[str] = []  # the type of every message, in arrival order
        self.close_code: int | None = None  # set once the connection is closed
        self.pings_sent = 0
        self.unasked_pongs = 0  # pongs beyond the pings sent so far: answers to nothing
        self._pongs = 0
        self._holding: RunChecker | None = None  # the run holding this user's slot
        self._waiters: list[Waiter] = []  # wait_until calls whose predicate has not held yet
        self._unsent: set[int] = set()  # id() of runs whose request the deadline kept back
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        user: str,
        token: str,
        ledger: Ledger,
        slots: UserSlots,
        *,
        method: AuthMethod = "header",
        rule: RuleId = "delivery",
        deadline: float = float("inf"),
        openings: Openings | None = None,
    ) -> Session:
        """Connect, read and check the greeting, start routing; ContractError otherwise.

        `rule` is what a failure to connect breaks for the caller (the greeting's own rule
        when the first message is wrong). Until it is greeted, `openings` counts it in flight.
        """
        openings = openings or Openings()
        with openings.opening():
            try:
                bound = time_left(endpoint.timeout, deadline)
                ws = await open_socket(endpoint, token, method, bound)
            except HandshakeError as exc:
                detail = f"expected a connection with a valid token ({method}); {exc}"
                if exc.edge:
                    detail = f"{exc}; {EDGE_HINT}"
                refused = exc if exc.edge else None
                raise ContractError([Violation(rule, NO_RUN, user, detail)], "", refused) from None
            session = cls(ws, user, endpoint, ledger, slots, deadline, openings)
            try:
                await session.read_greeting(method, token, rule)
            except BaseException:
                await session.close()
                raise
        session._reader = asyncio.create_task(session._read(), name=f"read {user}")
        return session

    async def read_greeting(self, method: AuthMethod, token: str, rule: RuleId) -> None:
        """Rule `greeting`; with the subprotocol method, also the echo of the offered one."""
        dialect = self.dialect
        if method == "subprotocol" and self.ws.subprotocol != subprotocol_for(dialect, token):
            offered = f"{dialect.subprotocol_prefix}*"
            detail = f"expected the server to select the offered {offered} subprotocol"
            raise ContractError([Violation(rule, NO_RUN, self.user, detail)])
        problem: str | None
        seconds = self.left(self.endpoint.timeout)
        try:
            async with asyncio.timeout(seconds):
                frame = await self.ws.recv()
                self.ws.arrived()  # the greeting's arrival: not a run's
        except TimeoutError:
            problem = f"expected {dialect.greeting_type} within {seconds:g} s"
        except ConnectionClosed:
            code = read_close_code(self.ws)
            problem = f"expected {dialect.greeting_type}; the connection closed with {code}"
        else:
            try:
                message = parse_frame(frame)
            except FrameError as exc:
                problem = f"expected {dialect.greeting_type}; got a bad frame: {exc}"
            else:
                self.seen.append(type_of(message))
                problem = check_greeting(
                    message, dialect.greeting_type, dialect.connection_id_paths
                )
        if problem is not None:
            violation = Violation("greeting", NO_RUN, self.user, problem, tuple(self.seen))
            raise ContractError([violation])

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self._file(frame, self.ws.arrived())
                if self._waiters:
                    self._wake()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = read_close_code(self.ws)
            self._release_slot()
            self._wake()

    def _wake(self) -> None:
        """Release every waiter whose predicate now holds (or all of them once closed): the
        reader checks them after each frame, so a waiter runs only when it has cause to."""
        for waiter in self._waiters:
            if not waiter.woken.done():
                waiter.check(closed=self.closed)

    def _file(self, frame: str | bytes, at: float) -> None:
        try:
            message = normalize(parse_frame(frame), self.dialect.event_containers)
        except FrameError as exc:
            self.demux.malformed.append(str(exc))
            self.seen.append("<malformed>")
            return
        self.seen.append(type_of(message))
        if message.get("type") == self.dialect.pong_type:
            self._pongs += 1
            if self._pongs > self.pings_sent:
                self.unasked_pongs += 1
        raw = frame[: RAW_LIMIT + 1] if isinstance(frame, str) else ""
        self.demux.route(message, at, raw)
        if not is_event(message):
            self.inbox.append(message)
        if self._holding is not None and self._holding.completed:
            self._release_slot()

    def _hold(self, run: RunChecker) -> None:
        """Hold the user's slot for `run`, and give the user up if it misses a bound."""
        self._holding = run
        loop, endpoint = asyncio.get_running_loop(), self.endpoint

        def unless(done: Callable[[], bool]) -> None:
            if self._holding is run and not done():
                self.slots.give_up(self.user)

        loop.call_later(self.left(endpoint.timeout), unless, lambda: bool(run.entries))
        loop.call_later(self.left(endpoint.run_timeout), unless, lambda: run.completed)

    def _release_slot(self) -> None:
        if self._holding is not None:
            self._holding = None
            self.slots.release(self.user)

    def left(self, seconds: float) -> float:
        """`seconds`, or what is left of the session's deadline when that is less."""
        return time_left(seconds, self.deadline)

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def describe(self) -> str:
        state = "open" if not self.closed else f"closed with {self.close_code}"
        return f"connection of user={self.user}: {state}; messages seen: {self.seen[-20:]}"

    async def wait_until(self, predicate: Callable[[], bool], seconds: float | None = None) -> bool:
        """Whether `predicate` held within `seconds` (default: the endpoint's single-wait bound;
        never past the deadline); stops on close."""
        if predicate() or self.closed:
            return predicate()
        waiter = Waiter(predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(
                    self.left(self.endpoint.timeout if seconds is None else seconds)
                ):
                    await waiter.woken
        finally:
            self._waiters.remove(waiter)
        return predicate()

    async def take(self, predicate: Callable[[Message], bool]) -> Message | None:
        """The first inbox message matching `predicate` (removed), waiting a bounded time."""

        def find() -> int | None:
            return next((i for i, m in enumerate(self.inbox) if predicate(m)), None)

        await self.wait_until(lambda: find() is not None)
        index = find()
        return None if index is None else self.inbox.pop(index)

    async def send(self, message: dict[str, Any] | str) -> bool:
        """Send one text frame (a dict becomes JSON); False if the connection is gone."""
        frame = message if isinstance(message, str) else json.dumps(message)
        try:
            async with asyncio.timeout(self.left(self.endpoint.timeout)):
                await self.ws.send(frame)
        except (ConnectionClosed, TimeoutError):
            return False
        return True

    async def ping(self, size: int = 0) -> bool:
        """Send a ping (padded to `size` bytes when larger); counted before it leaves, so a pong
        that arrives when every ping is answered is one nobody asked for."""
        self.pings_sent += 1
        ping_type = self.dialect.ping_type
        return await self.send(padded_ping(size, ping_type) if size else ping_message(self.dialect))

    async def start_run(self, kind: StartKind = "start_agent", size: int = 0) -> RunChecker:
        """Ask for a run on a fresh thread (with a fresh run_id where the dialect lets the client
        name it); the run to watch. `size`: the request is a frame of that many bytes, its text
        made longer as if a user pasted a document. It waits (bounded) until no connection is
        being opened and, in a dialect that matches runs by order, until the user's previous run
        is done."""
        spec = start_spec(self.dialect, kind)
        run_id = new_id("run") if spec.run_id_key else None
        thread_id = new_id("thread")
        expected = thread_id if spec.threads == "client" else None
        message = start_message(
            self.dialect, kind, text=RUN_REQUEST, thread_id=thread_id, run_id=run_id
        )
        frame = padded_request(message, self.dialect.payload_key, spec.text_key, size)
        ids = RunIds(thread_id=expected, user_id=self.user, run_id=run_id)
        await self.openings.settled(self.left(self.endpoint.timeout))
        held = spec.match == "order" and await self.slots.acquire(
            self.user, self.left(self.endpoint.run_timeout)
        )
        if self.left(self.endpoint.run_timeout) < least_left(self.endpoint):
            if held:  # no time left to judge it: the request is kept back, and reported
                self.slots.release(self.user)
            unsent = RunChecker(ids, spec.match)
            self._unsent.add(id(unsent))
            return unsent
        run = self.demux.track(ids, spec.match, sent_at=time.monotonic())
        if held:
            self._hold(run)
        if not await self.send(frame):
            self._release_slot()
        return run

    async def finish_runs(self, runs: Sequence[RunChecker]) -> list[Violation]:
        """Wait until every run is answered within the single-wait bound and complete within
        the run bound, each counted from its own request and none past the deadline; a
        `delivery` violation for each run that missed one, in the order they were asked for."""
        endpoint = self.endpoint
        sent = [run for run in runs if id(run) not in self._unsent]
        last_sent = max((run.sent_at for run in sent), default=0.0)
        answered = await self.wait_until(
            lambda: all(run.entries for run in sent),
            last_sent + endpoint.timeout - time.monotonic(),
        )
        if answered:
            left = last_sent + endpoint.run_timeout - time.monotonic()
            await self.wait_until(lambda: all(run.completed for run in sent), left)
        if any(run is self._holding for run in runs):
            self._release_slot()
        found = []
        for run in runs:
            detail = why_unfinished(
                run, self.endpoint, self.deadline, sent=id(run) not in self._unsent
            )
            if detail is not None:
                found.append(
                    Violation("delivery", str(run.run_id or NO_RUN), self.user, detail, run.seen)
                )
        return found

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.ws.transport.abort()

    async def close(self) -> None:
        """Close (bounded), abort if that hangs, and stop the reader."""
        try:
            async with asyncio.timeout(min(self.endpoint.timeout, CLOSE_BOUND) + 0.5):
                await self.ws.close()
        except Exception:
            self.ws.transport.abort()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._release_slot()
