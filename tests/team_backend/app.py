"""A team's agent backend, for the gate's own tests: Starlette on uvicorn, as most teams run one.

Written from docs/protocol.md alone (the reference dialect), with no code of the gate's: it
imports neither ``contract`` nor ``refservice``, so the gate judges a backend it was not written
against. The gate's tests run it as a team would:

    locally    MC_LOCAL_COMMAND="python -m uvicorn app:app --host {host} --port {port}
               [--workers 2]"  MC_LOCAL_CWD=tests/team_backend
               MC_LOCAL_SECRET_ENV=JWT_SECRET_KEY
    in Docker  from its own compose.yaml (a build of its own, a dependency service with a
               healthcheck and a named volume, a fixed host port, its own secret variable)

Environment:

    JWT_SECRET_KEY   the HS256 secret its tokens are signed with (required)
    TEAM_FAULT       "" (a correct backend) or "reorder": every run sends its first
                     agent_thinking before agent_started, which breaks rule started-first
    STORE_URL        the dependency service (in Docker): its /ready is asked at start-up,
                     and the backend refuses to start without it
    APP_VERSION      what /health reports as its version
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

SECRET = os.environ.get("JWT_SECRET_KEY", "")
FAULT = os.environ.get("TEAM_FAULT", "").strip()
FAULTS = ("", "reorder")
STORE_URL = os.environ.get("STORE_URL", "").strip()
VERSION = os.environ.get("APP_VERSION", "team-1.0.0")
STEP_PAUSE = 0.02  # seconds between a run's events
MAX_FRAME = 1024 * 1024  # bytes: the contract's frame limit (docs/protocol.md, frame-size)
MESSAGE_TOO_BIG = 1009
SUBPROTOCOL_PREFIX = "jwt."
Message = dict[str, Any]


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    """Refuse to start without a secret, with an unknown fault, or without the store."""
    if not SECRET:
        raise RuntimeError("JWT_SECRET_KEY is not set")
    if FAULT not in FAULTS:
        raise RuntimeError(f"TEAM_FAULT={FAULT!r} is not one of {FAULTS}")
    if STORE_URL:
        print(f"store at {STORE_URL}: {await asyncio.to_thread(ask_store)}", flush=True)
    yield


def ask_store() -> str:
    with urllib.request.urlopen(f"{STORE_URL}/ready", timeout=5) as answer:  # noqa: S310
        return str(answer.read().decode().strip())


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": VERSION})


# ---- who is asking ------------------------------------------------------------------------------


def presented_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(token, the subprotocol to echo) from the header, a jwt.* subprotocol, or ?token=."""
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), None
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(SUBPROTOCOL_PREFIX) and len(offered) > len(SUBPROTOCOL_PREFIX):
            encoded = offered[len(SUBPROTOCOL_PREFIX) :]
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                return raw.decode("ascii"), offered
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None, None
    return websocket.query_params.get("token") or None, None


def user_of(token: str | None) -> str | None:
    """The verified ``sub`` of an HS256 token that has ``sub`` and ``exp``; None otherwise."""
    if token is None:
        return None
    try:
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], options={"require": ["sub", "exp"]}
        )
    except jwt.InvalidTokenError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject else None


# ---- one connection -----------------------------------------------------------------------------


class Connection:
    """One user's socket: its frames in, its runs' events out (one send at a time)."""

    def __init__(self, websocket: WebSocket, user: str) -> None:
        self.websocket = websocket
        self.user = user
        self.sending = asyncio.Lock()
        self.runs: dict[str, asyncio.Task[None]] = {}

    async def send(self, message: Message) -> None:
        async with self.sending:
            await self.websocket.send_text(json.dumps(message))

    async def error(self, code: str, text: str) -> None:
        await self.send({"type": "error_message", "error_code": code, "message": text})

    async def serve(self) -> None:
        """Greet, then answer frame by frame. The frame limit is kept here, not by uvicorn's
        --ws-max-size: uvicorn drops the connection with the rest of a long frame unread, which
        resets it, and a client behind a proxy then sees 1006 instead of the close frame."""
        await self.send(
            {"type": "connection_established", "data": {"connection_id": uuid.uuid4().hex}}
        )
        try:
            while True:
                frame = await self.websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    return
                text, raw = frame.get("text"), frame.get("bytes") or b""
                if len(text.encode() if text is not None else raw) > MAX_FRAME:
                    async with self.sending:  # the close frame, whole: never mid-event
                        await self.websocket.close(code=MESSAGE_TOO_BIG)
                    return
                await self.answer(text)
        finally:
            for task in self.runs.values():
                task.cancel()

    async def answer(self, text: str | None) -> None:
        """Answer one frame (within the limit)."""
        if text is None:
            await self.error("JSON_PARSE_ERROR", "binary frames are not read; send JSON text")
            return
        try:
            message = json.loads(text)
        except ValueError:
            await self.error("JSON_PARSE_ERROR", "the frame is not JSON")
            return
        if not isinstance(message, dict):
            await self.error("JSON_PARSE_ERROR", "the frame is JSON but not an object")
            return
        kind = message.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind in ("start_agent", "user_message"):
            await self.start(message, kind)
        elif isinstance(kind, str):
            await self.error("UNKNOWN_MESSAGE_TYPE", f"no message type {kind[:40]!r}")
        else:
            await self.error("VALIDATION_ERROR", "'type' must be a string")

    async def start(self, message: Message, kind: str) -> None:
        payload = message.get("payload")
        text_key = "user_request" if kind == "start_agent" else "message"
        if not isinstance(payload, dict):
            await self.error("VALIDATION_ERROR", "'payload' must be an object")
            return
        text, thread = payload.get(text_key), payload.get("thread_id")
        if not (isinstance(text, str) and text and isinstance(thread, str) and thread):
            await self.error("VALIDATION_ERROR", f"'{text_key}' and 'thread_id' are required")
            return
        run = payload.get("run_id") if kind == "start_agent" else None
        if run is not None and not (isinstance(run, str) and run):
            await self.error("VALIDATION_ERROR", "'run_id' must be a non-empty string")
            return
        run = run or f"run-{uuid.uuid4().hex}"
        if run in self.runs:
            await self.error("RUN_ID_IN_USE", "that run is still going")
            return
        task = asyncio.create_task(self.play(run, thread, text))
        self.runs[run] = task
        task.add_done_callback(lambda _: self.runs.pop(run, None))

    async def play(self, run: str, thread: str, request: str) -> None:
        ids = {"run_id": run, "thread_id": thread, "user_id": self.user}
        try:
            for event in plan_events(request):
                await asyncio.sleep(STEP_PAUSE)
                await self.send({**event, **ids, "timestamp": time.time()})
        except Exception:  # noqa: S110 - the connection is gone; so is the run
            pass


def plan_events(request: str) -> list[Message]:
    """One run's five kinds of events, in the contract's order (unless TEAM_FAULT says not)."""
    call = f"call-{uuid.uuid4().hex[:12]}"
    events: list[Message] = [
        {"type": "agent_started", "agent_name": "team_agent"},
        {"type": "agent_thinking", "reasoning": f"Planning an answer to {request[:60]!r}"},
        {"type": "tool_executing", "tool_name": "lookup", "execution_id": call,
         "tool_args": {"q": request[:60]}},
        {"type": "tool_completed", "tool_name": "lookup", "execution_id": call, "success": True,
         "results": {"hits": 1}, "duration": STEP_PAUSE},
        {"type": "agent_thinking", "reasoning": "Writing it up."},
        {"type": "agent_completed", "status": "completed", "final_response": "Done."},
    ]  # fmt: skip
    if FAULT == "reorder":
        events[0], events[1] = events[1], events[0]
    return events


async def agent_socket(websocket: WebSocket) -> None:
    token, subprotocol = presented_token(websocket)
    user = user_of(token)
    if user is None:
        await websocket.close(code=1008)  # before accepting: uvicorn answers the handshake 403
        return
    await websocket.accept(subprotocol=subprotocol)
    with contextlib.suppress(Exception):  # a client gone mid-send ends its connection only
        await Connection(websocket, user).serve()


app = Starlette(
    routes=[Route("/health", health), WebSocketRoute("/ws", agent_socket)], lifespan=lifespan
)
