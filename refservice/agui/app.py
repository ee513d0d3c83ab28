"""The `ag-ui` dialect's ASGI app: a run per POST of a RunAgentInput, answered as an SSE stream.

    POST <run_path>  RunAgentInput -> 200 text/event-stream, `data: <json>` per event
                     not JSON -> 400; not a RunAgentInput (no runId, ...) -> 422; not
                     application/json -> 415; over 1 MiB -> 413; another method -> 405
    GET <health_path> (where there is one) -> {"status": "ok", "service": "refservice"}
    anything else -> 404

Bad requests are answered and the service keeps serving. Each run is its own stream; a client
that goes away ends it, and so does the service stopping (`stopping`) a stream a fault holds
open. `in_flight` knows every run being streamed, for the `leak` fault only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract.agui.requests import RunInputError, read_run_input
from refservice import __version__
from refservice.agui import faults
from refservice.agui.asgi import (
    BodyTooLargeError,
    header_values,
    read_body,
    respond,
    wait_for_disconnect,
)
from refservice.agui.plan import AguiShape, plan_run, to_chunks

if TYPE_CHECKING:
    from contract.agui.requests import RunInput
    from contract.dialect import Dialect
    from refservice.agui.asgi import Receive, Scope, Send
    from refservice.agui.plan import Frame

logger = logging.getLogger("refservice")


@dataclass(frozen=True)
class AguiConfig:
    """Everything the `ag-ui` service needs; the secret never shows in a repr."""

    secret: str = field(repr=False)
    dialect: Dialect
    run_path: str
    health_path: str  # "": none
    fault: faults.AguiFault | None = None
    shape: AguiShape = "flat"
    delay: float = 0.02


@dataclass(eq=False)
class InFlight:
    user: str
    text: str


class AguiApp:
    def __init__(self, config: AguiConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.fault = config.fault
        self.rng = rng or random.Random()
        self.in_flight: set[InFlight] = set()
        self.stopping = asyncio.Event()  # set when the service stops: held streams end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == self.config.run_path:
            if method != "POST":
                await respond(send, 405, "runs are POSTed\n", (("allow", "POST"),))
                return
            await self.serve_run(scope, receive, send)
        elif self.config.health_path and path == self.config.health_path:
            await self.answer_health(send)
        else:
            await respond(send, 404, f"no such path: {path[:200]}\n")

    async def answer_health(self, send: Send) -> None:
        status = faults.health_status(self.fault)
        if status != 200:
            await respond(send, status, {"status": "failing"})
            return
        body = {"status": "ok", "service": "refservice"}
        if self.config.dialect.version_key:
            body[self.config.dialect.version_key] = __version__
        await respond(send, 200, body)

    async def serve_run(self, scope: Scope, receive: Receive, send: Send) -> None:
        kinds = [
            value.split(";")[0].strip().lower() for value in header_values(scope, b"content-type")
        ]
        if kinds != ["application/json"]:
            await respond(send, 415, {"error": "expected Content-Type: application/json"})
            return
        try:
            body = await read_body(receive)
        except BodyTooLargeError:
            await respond(send, 413, {"error": "the body is larger than 1 MiB"})
            return
        try:
            run = read_run_input(faults.patch_body(self.fault, body))
        except RunInputError as exc:
            if exc.status == 400 and faults.crashes_on_malformed(self.fault):
                await respond(send, 500, "internal error\n")
                return
            logger.info("run refused with %d: %s", exc.status, exc.reason)
            await respond(send, exc.status, {"error": exc.reason})
            return
        flight = InFlight(str(scope.get("user", "anonymous")), run.text)
        self.in_flight.add(flight)
        try:
            await self.stream_run(run, flight, receive, send)
        finally:
            self.in_flight.discard(flight)

    def frames_for(self, run: RunInput) -> tuple[Frame, ...]:
        planned = plan_run(run, self.config.delay, self.rng)
        if self.config.shape == "chunks":
            planned = to_chunks(planned)
        return faults.rewrite_frames(self.fault, planned)

    async def stream_run(
        self, run: RunInput, flight: InFlight, receive: Receive, send: Send
    ) -> None:
        """Send the run's frames as they come due, until the last one or the client's going."""
        headers = [
            (b"content-type", faults.content_type(self.fault).encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        player = asyncio.create_task(self.play(self.frames_for(run), flight, send))
        gone = asyncio.create_task(wait_for_disconnect(receive))
        try:
            await asyncio.wait({player, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (player, gone):
                task.cancel()
        played, _ = await asyncio.gather(player, gone, return_exceptions=True)
        if isinstance(played, Exception):
            logger.error("run %s failed: %r", run.run_id[:80], played)

    async def play(self, frames: tuple[Frame, ...], flight: InFlight, send: Send) -> None:
        for frame in frames:
            if frame.pause > 0:
                await asyncio.sleep(frame.pause)
            event = self.fill_leak(frame, flight) if frame.leak else frame.event
            if event is None:
                continue
            text = json.dumps({**event, "timestamp": int(time.time() * 1000)})
            await send(
                {
                    "type": "http.response.body",
                    "body": faults.encode_event(self.fault, text),
                    "more_body": True,
                }
            )
        if faults.holds_open(self.fault):
            await self.stopping.wait()  # or until the client goes
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def fill_leak(self, frame: Frame, flight: InFlight) -> dict[str, Any] | None:
        """The `leak` fault's slot: another user's request text, if one is in flight."""
        other = next((f for f in self.in_flight if f.user != flight.user), None)
        return None if other is None else {**frame.event, "delta": f" (also asked: {other.text})"}
