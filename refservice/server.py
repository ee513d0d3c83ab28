"""The WebSocket server: handshake (health, routing, auth), connections, runs.

One `AgentService` holds the settings and the connected clients. Each connection is
served by its own handler and each run by its own task that sends only on that
connection (the `leak` fault is the one deliberate exception). Every frame is rendered
once with `json.dumps` and sent as is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from refservice import __version__, faults
from refservice.agent import Step, plan_run
from refservice.auth import (
    AuthError,
    PresentedToken,
    extract_token,
    find_jwt_subprotocol,
    read_unsigned_user,
    read_unverified_user,
    split_subprotocols,
    verify_token,
)
from refservice.messages import (
    PONG,
    BadInput,
    Ping,
    Shape,
    StartRun,
    parse_client_message,
    render_greeting,
    render_message,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from websockets.http11 import Request, Response

logger = logging.getLogger("refservice")

CLOSE_TIMEOUT = 1.0  # seconds a closing handshake may take (shutdown must finish in 2 s)
LISTEN_BACKLOG = 2048  # room for a burst of 1,000+ simultaneous connects


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs; the secret never shows in a repr."""

    secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    shape: Shape = "flat"
    fault: faults.Fault | None = None
    max_size: int = 2**20
    delay: float = 0.02
    ws_path: str = "/ws"
    health_path: str = "/health"


@dataclass(eq=False)
class Client:
    """One open connection: who it belongs to and its runs in flight."""

    connection_id: str
    user_id: str
    websocket: ServerConnection
    runs: dict[str, asyncio.Task[None]] = field(default_factory=dict)


def make_json_response(connection: ServerConnection, status: int, body: object) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


class AgentService:
    def __init__(self, config: ServiceConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.clients: dict[str, Client] = {}

    # -- handshake ---------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer /health, 404 unknown paths, 401 bad tokens; let good handshakes through."""
        path = urlsplit(request.path).path
        if path == self.config.health_path:
            status = faults.health_status(self.config.fault)
            if status != 200:
                return make_json_response(connection, status, {"status": "failing"})
            body = {"status": "ok", "service": "refservice", "version": __version__}
            return make_json_response(connection, 200, body)
        if path != self.config.ws_path:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path: {path}\n")
        # `username` is where websockets keeps the authenticated user (see its basic_auth).
        if faults.checks_tokens(self.config.fault):
            try:
                connection.username = self.authenticate(request)
            except AuthError as exc:
                return self.reject_token(connection, exc)
        else:
            connection.username = self.identify_unchecked(request)
        return None

    def find_token(self, request: Request) -> PresentedToken | None:
        return extract_token(
            request.headers.get("Authorization"),
            request.headers.get_all("Sec-WebSocket-Protocol"),
            request.path,
        )

    def authenticate(self, request: Request) -> str:
        """The verified user id of the handshake; AuthError when there is none."""
        presented = self.find_token(request)
        if presented is None:
            raise AuthError(
                "no token (use an Authorization header, a jwt.* subprotocol or ?token=)"
            )
        fault = self.config.fault
        unsigned = read_unsigned_user(presented.token) if faults.accepts_unsigned(fault) else None
        user = unsigned or verify_token(presented.token, self.config.secret)
        return faults.user_for(fault, presented.source, user)

    def identify_unchecked(self, request: Request) -> str:
        """The `no_auth` fault: whoever the token claims to be, or "anonymous"."""
        try:
            presented = self.find_token(request)
        except AuthError:
            presented = None
        return read_unverified_user(None if presented is None else presented.token)

    def reject_token(self, connection: ServerConnection, exc: AuthError) -> Response:
        logger.info("handshake rejected with 401: %s", exc.reason)
        response = connection.respond(HTTPStatus.UNAUTHORIZED, f"{exc}\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="refservice"'
        return response

    def select_subprotocol(
        self, _connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """Echo the `jwt.*` subprotocol the client offered, as the contract asks."""
        chosen = find_jwt_subprotocol(split_subprotocols(list(subprotocols)))
        return None if chosen is None else Subprotocol(chosen)

    # -- connections -------------------------------------------------------------------

    async def handle_connection(self, websocket: ServerConnection) -> None:
        client = Client(uuid.uuid4().hex, websocket.username, websocket)
        self.clients[client.connection_id] = client
        beat = None
        try:
            await websocket.send(render_greeting(client.connection_id))
            if faults.sends_unasked_pongs(self.config.fault):
                beat = asyncio.create_task(self.send_unasked_pongs(client))
            async for frame in websocket:
                if not await self.dispatch_frame(client, frame):
                    break
        except ConnectionClosed:
            pass
        finally:
            del self.clients[client.connection_id]
            for task in [*client.runs.values(), *([beat] if beat else [])]:
                task.cancel()

    async def send_unasked_pongs(self, client: Client) -> None:
        """The `unasked_pong` fault: a pong on a timer, answering nothing."""
        try:
            while True:
                await asyncio.sleep(faults.UNASKED_PONG_EVERY)
                await client.websocket.send(PONG)
        except ConnectionClosed:
            return

    async def dispatch_frame(self, client: Client, frame: str | bytes) -> bool:
        """Serve one client frame; False when the connection must end."""
        message = parse_client_message(frame)
        if isinstance(message, Ping):
            if faults.answers_ping(self.config.fault):
                await client.websocket.send(PONG)
        elif isinstance(message, StartRun):
            await self.start_run(client, message)
        elif message.code == "JSON_PARSE_ERROR" and faults.crashes_on_malformed(self.config.fault):
            await client.websocket.close(1011, "internal error")
            return False
        else:
            await self.send_error(client, message)
        return True

    async def send_error(self, client: Client, error: BadInput) -> None:
        fields = {
            "error_code": faults.error_code(self.config.fault, error.code),
            "message": error.message,
        }
        await client.websocket.send(render_message("error_message", fields, self.config.shape))

    async def start_run(self, client: Client, start: StartRun) -> None:
        run_id = start.run_id or uuid.uuid4().hex
        if run_id in client.runs:
            error = BadInput("RUN_ID_IN_USE", f"run_id {run_id[:80]!r} is already running")
            await self.send_error(client, error)
            return
        if not faults.starts_runs(self.config.fault):
            return
        planned = plan_run(start.user_request, self.config.delay, self.rng)
        steps = faults.rewrite_steps(self.config.fault, planned)
        steps = faults.trim_when_busy(self.config.fault, len(self.clients), steps)
        task = asyncio.create_task(self.play_run(client, run_id, start.thread_id, steps))
        client.runs[run_id] = task
        task.add_done_callback(lambda _: client.runs.pop(run_id, None))

    # -- runs --------------------------------------------------------------------------

    async def play_run(
        self, client: Client, run_id: str, thread_id: str, steps: tuple[Step, ...]
    ) -> None:
        fault, shape = self.config.fault, self.config.shape
        try:
            for step in steps:
                if step.pause > 0:
                    await asyncio.sleep(step.pause)
                fields = {
                    "run_id": faults.stamp_run_id(fault, run_id, step),
                    "thread_id": thread_id,
                    "user_id": client.user_id,
                    "timestamp": time.time(),
                    **step.fields,
                }
                text = render_message(step.type, fields, shape)
                await client.websocket.send(text)
                if faults.leaks_events(fault):
                    await self.leak_event(client, text)
                await self.send_side_messages(client, run_id, thread_id)
        except ConnectionClosed:
            return
        except Exception:
            logger.exception("run %s failed", run_id[:80])

    async def send_side_messages(self, client: Client, run_id: str, thread_id: str) -> None:
        """The faults that add a `progress` message to each event: NaN in it, or a leak."""
        fault, shape = self.config.fault, self.config.shape
        if faults.sends_nan(fault):
            fields = {"run_id": run_id, "thread_id": thread_id, "percent": math.nan}
            await client.websocket.send(render_message("progress", fields, shape))
        if faults.leaks_progress(fault):
            fields = {"thread_id": thread_id, "user_id": client.user_id, "note": "working"}
            await self.leak_event(client, render_message("progress", fields, shape))

    async def leak_event(self, client: Client, text: str) -> None:
        """The `leak` faults: hand the message to one connection of another user too."""
        other = next((c for c in self.clients.values() if c.user_id != client.user_id), None)
        if other is None:
            return
        try:
            await other.websocket.send(text)
        except ConnectionClosed:
            return


async def start_server(config: ServiceConfig, service: AgentService | None = None) -> Server:
    """Listen on config.host:config.port (0 = any free port) and serve the contract."""
    service = service or AgentService(config)
    return await serve(
        service.handle_connection,
        config.host,
        config.port,
        process_request=service.process_request,
        select_subprotocol=service.select_subprotocol,
        compression=None,
        max_size=faults.frame_limit(config.fault, config.max_size),
        close_timeout=CLOSE_TIMEOUT,
        backlog=LISTEN_BACKLOG,
    )
