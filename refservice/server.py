"""The WebSocket server: connections and runs, in the dialect the service speaks.

One `AgentService` holds the settings and the connected clients; `handshake.Gatekeeper` decides
who a client is. Each connection is served by its own handler and each run by its own task that
sends only on that connection (the `leak` faults are the deliberate exceptions). Every frame is
rendered once with `json.dumps` and sent as is.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from contract.dialect import load_dialect
from contract.messages import frame, greeting_message, start_spec
from refservice import faults
from refservice.agent import Step, plan_run
from refservice.handshake import Gatekeeper, Refusal
from refservice.messages import (
    BadInput,
    Ping,
    Shape,
    StartRun,
    Unknown,
    parse_client_message,
    render_ack,
    render_error,
    render_message,
    render_pong,
)

if TYPE_CHECKING:
    from contract.dialect import Dialect

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
    max_size: int | None = None  # None: the dialect's frame limit
    delay: float = 0.02
    ws_path: str | None = None  # None: the dialect's
    health_path: str | None = None
    dialect: Dialect = field(default_factory=load_dialect)

    @property
    def frame_limit(self) -> int:
        return self.max_size or self.dialect.max_frame


@dataclass(eq=False)
class Client:
    """One open connection: who it belongs to and its runs in flight."""

    connection_id: str
    user_id: str
    websocket: ServerConnection
    runs: dict[str, asyncio.Task[None]] = field(default_factory=dict)


class AgentService:
    def __init__(self, config: ServiceConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.dialect = config.dialect
        self.rng = rng or random.Random()
        self.clients: dict[str, Client] = {}
        self.threads: dict[str, str] = {}  # user -> the thread a server-threads dialect keeps
        paths = (
            config.ws_path or self.dialect.websocket_path,
            config.health_path or self.dialect.health_path,
        )
        self.gate = Gatekeeper(self.dialect, config.secret, config.fault, paths)

    # -- connections -------------------------------------------------------------------

    async def handle_connection(self, websocket: ServerConnection) -> None:
        refusal = self.gate.refusals.pop(websocket, None)
        if refusal is not None:
            await self.refuse(websocket, refusal)
            return
        client = Client(uuid.uuid4().hex, websocket.username, websocket)
        self.clients[client.connection_id] = client
        beat = None
        try:
            await websocket.send(frame(greeting_message(self.dialect, client.connection_id)))
            if faults.sends_unasked_pongs(self.config.fault):
                beat = asyncio.create_task(self.send_unasked_pongs(client))
            async for data in websocket:
                if faults.drops_frame(self.config.fault, data):
                    continue
                if not await self.dispatch_frame(client, data):
                    break
        except ConnectionClosed:
            pass
        finally:
            del self.clients[client.connection_id]
            for task in [*client.runs.values(), *([beat] if beat else [])]:
                task.cancel()

    async def refuse(self, websocket: ServerConnection, refusal: Refusal) -> None:
        """A dialect that refuses after accepting: one error frame, then its close code."""
        error = render_error(self.dialect, refusal.code, refusal.reason, "flat")
        try:
            for _ in range(refusal.frames):
                await websocket.send(error)
            await websocket.close(self.dialect.reject_close_code, "authentication failed")
        except ConnectionClosed:
            return

    async def send_unasked_pongs(self, client: Client) -> None:
        """The `unasked_pong` fault: a pong on a timer, answering nothing."""
        try:
            while True:
                await asyncio.sleep(faults.UNASKED_PONG_EVERY)
                await client.websocket.send(render_pong(self.dialect))
        except ConnectionClosed:
            return

    async def dispatch_frame(self, client: Client, data: str | bytes) -> bool:
        """Serve one client frame; False when the connection must end."""
        message = parse_client_message(data, self.dialect)
        fault = self.config.fault
        if isinstance(message, Ping):
            if faults.answers_ping(fault):
                await client.websocket.send(render_pong(self.dialect))
        elif isinstance(message, StartRun):
            await self.start_run(client, message)
        elif isinstance(message, Unknown) and self.dialect.unknown_type == "ack":
            await client.websocket.send(render_ack(self.dialect, message.type))
        elif isinstance(message, Unknown):
            await self.send_error(
                client, BadInput("unknown_type", f"unknown type {message.type[:60]!r}")
            )
        elif message.kind in {"not_json", "not_an_object"} and faults.crashes_on_malformed(fault):
            await client.websocket.close(1011, "internal error")
            return False
        else:
            await self.send_error(client, message)
        return True

    async def send_error(self, client: Client, error: BadInput) -> None:
        code = faults.error_code(self.config.fault, error.code(self.dialect))
        await client.websocket.send(
            render_error(self.dialect, code, error.message, self.config.shape)
        )

    def thread_for(self, client: Client, start: StartRun) -> str:
        """The thread a run goes to: the client's, or (server threads) the user's own, which an
        unknown thread_id is swapped for."""
        if start_spec(self.dialect, start.kind).threads == "client":
            return start.thread_id
        return self.threads.setdefault(client.user_id, f"thread_{uuid.uuid4().hex[:16]}")

    async def start_run(self, client: Client, start: StartRun) -> None:
        thread_id = self.thread_for(client, start)
        run_id = start.run_id or f"run_{uuid.uuid4().hex}"
        if run_id in client.runs:
            error = BadInput("run_id_in_use", f"run_id {run_id[:80]!r} is already running")
            await self.send_error(client, error)
            return
        if not faults.starts_runs(self.config.fault):
            return
        planned = plan_run(start.user_request, self.config.delay, self.rng)
        steps = faults.rewrite_steps(self.config.fault, planned)
        steps = faults.trim_when_busy(self.config.fault, len(self.clients), steps)
        task = asyncio.create_task(self.play_run(client, run_id, thread_id, steps))
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
                    "timestamp": faults.stamp_time(fault, time.time()),
                    **self.spell_fields(step),
                }
                nested = faults.nested_under(fault)
                text = (
                    render_message(step.type, fields, shape)
                    if nested is None
                    else frame({"type": step.type, nested: fields})
                )
                await client.websocket.send(text)
                if faults.leaks_events(fault):
                    await self.leak_event(client, text)
                await self.send_side_messages(client, run_id, thread_id, step)
        except ConnectionClosed:
            return
        except Exception:
            logger.exception("run %s failed", run_id[:80])

    def spell_fields(self, step: Step) -> dict[str, object]:
        """A step's fields in the dialect's units (a tool's duration in milliseconds where the
        dialect says so)."""
        fields = dict(step.fields)
        if "duration" in fields and self.dialect.duration_unit == "milliseconds":
            fields["duration"] = round(float(fields["duration"]) * 1000, 3)
        return fields

    async def send_side_messages(
        self, client: Client, run_id: str, thread_id: str, step: Step
    ) -> None:
        """What goes with an event: the dialect's first interleaved type once per run (as its
        backends send heartbeats and progress), and the faults that add a `progress` message."""
        fault, shape = self.config.fault, self.config.shape
        if step.type == "agent_started" and self.dialect.interleaved:
            note = {"connection_id": client.connection_id, "timestamp": time.time()}
            await client.websocket.send(render_message(self.dialect.interleaved[0], note, shape))
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
        process_request=service.gate.process_request,
        select_subprotocol=service.gate.select_subprotocol,
        compression=None,
        max_size=faults.frame_limit(config.fault, config.frame_limit),
        close_timeout=CLOSE_TIMEOUT,
        backlog=LISTEN_BACKLOG,
    )
