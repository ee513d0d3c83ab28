"""Real WebSocket client sockets for the suite: connect, authenticate, read, route, wait (bounded).

A `Session` is one user's connection. Its reader task parses every frame, files agent events
into the runs they belong to (`routing.Demux`) and keeps every other message in an inbox.
Every wait is bounded by the endpoint's timeout; nothing here judges: the tests do, with
`contract`. Tokens never appear in a message: anything quoted from websockets is scrubbed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from contract.routing import Demux, Ledger, RunChecker
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

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

AuthMethod = Literal["header", "subprotocol", "query"]
AUTH_METHODS: tuple[AuthMethod, ...] = get_args(AuthMethod)
ABNORMAL_CLOSURE = 1006  # what a connection that ended without a close frame reports
CLOSE_BOUND = 2.0  # seconds a closing handshake may take before the transport is aborted
RUN_REQUEST = "mission-critical check: think, call one tool, answer"
PONG = "pong"


class ContractError(Exception):
    """A scenario found broken rules; the message is one `[rule] ...` line per violation."""

    def __init__(self, violations: Sequence[Violation], context: str = "") -> None:
        super().__init__(format_violations(violations))
        self.violations = tuple(violations)
        self.context = context

    def __str__(self) -> str:
        text = format_violations(self.violations)
        return f"{text}\n{self.context}" if self.context else text


@dataclass
class VerdictCount:
    """How many verdicts (`require_clean` calls) the suite reached: the conftest fails a check
    whose body returned without one (a --trace debugger that quit at once, an early return)."""

    reached: int = 0


VERDICTS = VerdictCount()


def require_clean(violations: Sequence[Violation], context: str = "") -> None:
    """Every check's verdict: raise ContractError when any rule was broken."""
    VERDICTS.reached += 1
    if violations:
        raise ContractError(violations, context)


class HandshakeError(Exception):
    """No WebSocket connection: `status` is the HTTP answer, None when there was none."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        answer = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        return f"handshake failed ({answer}): {self.reason}"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect, and how long any one wait may take."""

    ws_url: str = field(repr=False)  # may carry a token in its query
    ssl_context: ssl.SSLContext | None
    timeout: float
    grace: float
    max_frame: int


def make_ssl_context(url: str, ca_bundle: str | None) -> ssl.SSLContext | None:
    """A verifying TLS context for wss/https (MC_CA_BUNDLE, else system roots); None for ws/http."""
    if urlsplit(url).scheme not in {"wss", "https"}:
        return None
    return ssl.create_default_context(cafile=ca_bundle)


def new_id(kind: str) -> str:
    return f"mc-{kind}-{secrets.token_hex(6)}"


def subprotocol_for(token: str) -> Subprotocol:
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return Subprotocol(f"jwt.{encoded}")


def with_query_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def scrub(text: str, token: str | None) -> str:
    """`text` with the token, and its subprotocol form, replaced by ***."""
    if not token:
        return text
    return text.replace(subprotocol_for(token), "jwt.***").replace(token, "***")


async def open_socket(
    endpoint: Endpoint, token: str | None, method: AuthMethod = "header"
) -> ClientConnection:
    """A connected socket presenting `token` by `method` (none when `token` is None)."""
    url, headers, subprotocols = endpoint.ws_url, {}, None
    if token is not None and method == "header":
        headers = {"Authorization": f"Bearer {token}"}
    elif token is not None and method == "subprotocol":
        subprotocols = [subprotocol_for(token)]
    elif token is not None:
        url = with_query_token(url, token)
    try:
        async with asyncio.timeout(endpoint.timeout):
            return await connect(
                url,
                additional_headers=headers,
                subprotocols=subprotocols,
                ssl=endpoint.ssl_context,
                compression=None,
                proxy=None,
                open_timeout=None,
                ping_interval=None,
                close_timeout=min(endpoint.timeout, CLOSE_BOUND),
                max_size=max(4 * endpoint.max_frame, 4 * 2**20),
                max_queue=None,
            )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise HandshakeError(status, f"server answered HTTP {status}") from None
    except TimeoutError:
        raise HandshakeError(None, f"no handshake within {endpoint.timeout:g} s") from None
    except Exception as exc:
        reason = scrub(f"{exc.__class__.__name__}: {exc}", token)
        raise HandshakeError(None, reason) from None


def padded_ping(size: int) -> str:
    """A ping frame of exactly `size` bytes (at least the bare ping's), padded in one field."""
    head, tail = '{"type": "ping", "padding": "', '"}'
    return head + "x" * max(0, size - len(head) - len(tail)) + tail


def read_close_code(ws: ClientConnection) -> int:
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else ABNORMAL_CLOSURE


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

    def __init__(self, ws: ClientConnection, user: str, endpoint: Endpoint, ledger: Ledger) -> None:
        self.ws = ws
        self.user = user
        self.endpoint = endpoint
        self.demux = Demux(user, ledger)
        self.inbox: list[Message] = []  # non-event messages not taken yet
        self.seen: list[str] = []  # the type of every message, in arrival order
        self.close_code: int | None = None  # set once the connection is closed
        self.pings_sent = 0
        self.unasked_pongs = 0  # pongs beyond the pings sent so far: answers to nothing
        self._pongs = 0
        self._waiters: list[Waiter] = []  # wait_until calls whose predicate has not held yet
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        user: str,
        token: str,
        ledger: Ledger,
        *,
        method: AuthMethod = "header",
        rule: RuleId = "delivery",
    ) -> Session:
        """Connect, read and check the greeting, start routing; ContractError otherwise.

        `rule` is what a failure to connect breaks for the caller (the greeting's own rule
        when the first message is wrong).
        """
        try:
            ws = await open_socket(endpoint, token, method)
        except HandshakeError as exc:
            detail = f"expected a connection with a valid token ({method}); {exc}"
            raise ContractError([Violation(rule, NO_RUN, user, detail)]) from None
        session = cls(ws, user, endpoint, ledger)
        try:
            await session.read_greeting(method, token, rule)
        except BaseException:
            await session.close()
            raise
        session._reader = asyncio.create_task(session._read(), name=f"read {user}")
        return session

    async def read_greeting(self, method: AuthMethod, token: str, rule: RuleId) -> None:
        """Rule `greeting`; with the subprotocol method, also the echo of the offered one."""
        if method == "subprotocol" and self.ws.subprotocol != subprotocol_for(token):
            detail = "expected the server to select the offered jwt.* subprotocol"
            raise ContractError([Violation(rule, NO_RUN, self.user, detail)])
        problem: str | None
        try:
            async with asyncio.timeout(self.endpoint.timeout):
                frame = await self.ws.recv()
        except TimeoutError:
            problem = f"expected connection_established within {self.endpoint.timeout:g} s"
        except ConnectionClosed:
            code = read_close_code(self.ws)
            problem = f"expected connection_established; the connection closed with {code}"
        else:
            try:
                message = normalize(parse_frame(frame))
            except FrameError as exc:
                problem = f"expected connection_established; got a bad frame: {exc}"
            else:
                self.seen.append(type_of(message))
                problem = check_greeting(message)
        if problem is not None:
            violation = Violation("greeting", NO_RUN, self.user, problem, tuple(self.seen))
            raise ContractError([violation])

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self._file(frame)
                if self._waiters:
                    self._wake()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = read_close_code(self.ws)
            self._wake()

    def _wake(self) -> None:
        """Release every waiter whose predicate now holds (or all of them once closed): the
        reader checks them after each frame, so a waiter runs only when it has cause to."""
        for waiter in self._waiters:
            if not waiter.woken.done():
                waiter.check(closed=self.closed)

    def _file(self, frame: str | bytes) -> None:
        try:
            message = normalize(parse_frame(frame))
        except FrameError as exc:
            self.demux.malformed.append(str(exc))
            self.seen.append("<malformed>")
            return
        self.seen.append(type_of(message))
        if message.get("type") == PONG:
            self._pongs += 1
            if self._pongs > self.pings_sent:
                self.unasked_pongs += 1
        self.demux.route(message)
        if not is_event(message):
            self.inbox.append(message)

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def describe(self) -> str:
        state = "open" if not self.closed else f"closed with {self.close_code}"
        return f"connection of user={self.user}: {state}; messages seen: {self.seen[-20:]}"

    async def wait_until(self, predicate: Callable[[], bool], seconds: float | None = None) -> bool:
        """Whether `predicate` held within `seconds` (default: the endpoint's); stops on close."""
        if predicate() or self.closed:
            return predicate()
        waiter = Waiter(predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.endpoint.timeout if seconds is None else seconds):
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
            async with asyncio.timeout(self.endpoint.timeout):
                await self.ws.send(frame)
        except (ConnectionClosed, TimeoutError):
            return False
        return True

    async def ping(self, size: int = 0) -> bool:
        """Send a ping (padded to `size` bytes when larger); counted before it leaves, so a pong
        that arrives when every ping is answered is one nobody asked for."""
        self.pings_sent += 1
        return await self.send(padded_ping(size) if size else {"type": "ping"})

    async def start_agent(self) -> RunChecker:
        """Send start_agent with a fresh thread_id and run_id; the run to watch."""
        ids = RunIds(thread_id=new_id("thread"), user_id=self.user, run_id=new_id("run"))
        run = self.demux.track(ids)
        payload = {"user_request": RUN_REQUEST, "thread_id": ids.thread_id, "run_id": ids.run_id}
        await self.send({"type": "start_agent", "payload": payload})
        return run

    async def send_user_message(self) -> RunChecker:
        """Send user_message on a fresh thread; the run (its run_id learned from the events)."""
        ids = RunIds(thread_id=new_id("thread"), user_id=self.user)
        run = self.demux.track(ids)
        payload = {"message": RUN_REQUEST, "thread_id": ids.thread_id}
        await self.send({"type": "user_message", "payload": payload})
        return run

    async def finish_runs(self, runs: Sequence[RunChecker]) -> bool:
        """Wait (bounded) until every run saw agent_completed, then listen for the grace window."""
        done = await self.wait_until(lambda: all(run.completed for run in runs))
        if done and self.endpoint.grace > 0:
            await asyncio.sleep(self.endpoint.grace)
        return done

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


async def close_all(sessions: Sequence[Session]) -> None:
    await asyncio.gather(*(session.close() for session in sessions))


@dataclass(frozen=True)
class HealthAnswer:
    status: int
    body: bytes = field(repr=False)


class KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer (the contract wants 200 from the health path itself)."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def get_url(url: str, context: ssl.SSLContext | None, timeout: float) -> HealthAnswer:
    """A plain GET without proxies or redirects; HTTP error statuses (3xx included) are
    answers, not exceptions."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), KeepRedirects()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=timeout) as response:
            return HealthAnswer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HealthAnswer(exc.code, exc.read())


async def fetch_health(url: str, context: ssl.SSLContext | None, seconds: float) -> HealthAnswer:
    """GET `url` within `seconds` (TimeoutError or OSError otherwise).

    The blocking GET runs in a daemon thread that is abandoned on timeout, so a server that
    trickles bytes cannot hold the event loop's shutdown hostage.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[HealthAnswer] = loop.create_future()

    def deliver(outcome: HealthAnswer | Exception) -> None:
        if answer.done():
            return
        if isinstance(outcome, Exception):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    def work() -> None:
        outcome: HealthAnswer | Exception
        try:
            outcome = get_url(url, context, seconds)
        except Exception as exc:
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=work, name="health GET", daemon=True).start()
    async with asyncio.timeout(seconds):
        return await answer
