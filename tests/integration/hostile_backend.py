"""A held-out backend: the wire contract written again from docs/protocol.md and
docs/dialects/netra.md alone, with misbehaviours that real backends were found to have.

    HOSTILE_JWT_SECRET=... python -m tests.integration.hostile_backend --dialect netra \
        --port 0 [--misbehave NAME ...]

It imports neither `contract` nor `refservice` on purpose: the gate must judge a backend it was
not written against. Clean (no --misbehave), it passes the suite in both dialects. It prints
`READY port=<port>` on stdout once listening and stops on SIGTERM.

| misbehaviour | what the backend does |
|---|---|
| slow_big_frames | blocks its loop SLOW_FOR s on a frame over SLOW_OVER bytes (a slow parse) |
| drop_over_8k | reads every frame over 8 KiB and ignores it, the connection left open |
| nest_payload | puts every event's fields under `payload` (netra beta-preview-8) |
| accept_no_exp | accepts a correctly signed token that has no `exp` |
| auth_frames_twice | refuses (netra) with two AUTH_FAILED frames before its close 1008 |
| wrong_auth_code | refuses (netra) with UNAUTHORIZED instead of AUTH_FAILED |
| epoch_ms | stamps events in epoch milliseconds |
| escape_run_id | stamps events with the run_id plus terminal escapes (a title, a clear) |
| escape_version | reports a version on /health holding terminal escapes |
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

import jwt
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from websockets.http11 import Request, Response

Dialect = Literal["reference", "netra"]
Misbehaviour = Literal[
    "slow_big_frames",
    "drop_over_8k",
    "nest_payload",
    "accept_no_exp",
    "auth_frames_twice",
    "wrong_auth_code",
    "epoch_ms",
    "escape_run_id",
    "escape_version",
]
MISBEHAVIOURS: tuple[Misbehaviour, ...] = get_args(Misbehaviour)
SECRET_ENV = "HOSTILE_JWT_SECRET"
MAX_FRAME = {"reference": 2**20, "netra": 16 * 2**20}
NETRA_CLAIMS = {"iss": "netra-auth-service", "aud": "netra-platform", "token_type": "access"}
SLOW_OVER, SLOW_FOR = 256 * 1024, 0.5
DROP_OVER = 8 * 1024
ESCAPES = "\x1b]0;hostile\x07\x1b[2J"
STEP = 0.01  # seconds between a run's events


@dataclass
class Backend:
    dialect: Dialect
    secret: str = field(repr=False)
    misbehaving: frozenset[Misbehaviour] = frozenset()
    users: dict[ServerConnection, str] = field(default_factory=dict)
    refused: set[ServerConnection] = field(default_factory=set)

    def does(self, name: Misbehaviour) -> bool:
        return name in self.misbehaving

    # -- the handshake ------------------------------------------------------------------

    def token_of(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer ") and header[7:].strip():
            return header[7:].strip()
        for offered in request.headers.get_all("Sec-WebSocket-Protocol"):
            for item in (part.strip() for part in offered.split(",")):
                if item.startswith("jwt.") and len(item) > 4:
                    raw = item[4:] + "=" * (-len(item[4:]) % 4)
                    with contextlib.suppress(ValueError):
                        return base64.urlsafe_b64decode(raw).decode()
        if self.dialect == "reference":
            tokens = parse_qs(urlsplit(request.path).query).get("token")
            return tokens[0] if tokens else None
        return None

    def user_of(self, token: str | None) -> str | None:
        if token is None:
            return None
        required = ["sub"] if self.does("accept_no_exp") else ["sub", "exp"]
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"require": required, "verify_aud": False},
            )
        except jwt.PyJWTError:
            return None
        if self.dialect == "netra":
            wanted = all(claims.get(key) == value for key, value in NETRA_CLAIMS.items())
            if not wanted or not isinstance(claims.get("jti"), str):
                return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) and subject else None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/health":
            version = f"h-1{ESCAPES}" if self.does("escape_version") else "h-1"
            body = {"status": "ok", **({"version": version} if self.dialect == "reference" else {})}
            response = connection.respond(HTTPStatus.OK, json.dumps(body))
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path != "/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, "no such path\n")
        user = self.user_of(self.token_of(request))
        if user is None and self.dialect == "reference":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad token\n")
        if user is None:
            self.refused.add(connection)
        else:
            self.users[connection] = user
        return None

    def select_subprotocol(
        self, _connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return next((item for item in offered if item.startswith("jwt.")), None)

    # -- a connection -------------------------------------------------------------------

    async def serve(self, ws: ServerConnection) -> None:
        if ws in self.refused:
            await self.refuse(ws)
            return
        user = self.users.pop(ws)
        await ws.send(
            json.dumps(
                {"type": "connection_established", "data": {"connection_id": uuid.uuid4().hex}}
            )
        )
        runs: set[asyncio.Task[None]] = set()
        try:
            async for frame in ws:
                if self.does("drop_over_8k") and len(frame) > DROP_OVER:
                    continue
                if self.does("slow_big_frames") and len(frame) > SLOW_OVER:
                    time.sleep(SLOW_FOR)  # noqa: ASYNC251 - the point: a parse that blocks the loop
                task = await self.answer(ws, user, frame)
                if task is not None:
                    runs.add(task)
                    task.add_done_callback(runs.discard)
        except ConnectionClosed:
            pass
        finally:
            for task in runs:
                task.cancel()

    async def refuse(self, ws: ServerConnection) -> None:
        code = "UNAUTHORIZED" if self.does("wrong_auth_code") else "AUTH_FAILED"
        error = json.dumps({"type": "error_message", "error_code": code, "message": "bad token"})
        with contextlib.suppress(ConnectionClosed):
            for _ in range(2 if self.does("auth_frames_twice") else 1):
                await ws.send(error)
            await ws.close(1008, "Authentication failed")

    async def answer(
        self, ws: ServerConnection, user: str, frame: str | bytes
    ) -> asyncio.Task[None] | None:
        try:
            message = json.loads(frame)
        except ValueError:
            await self.error(ws, "JSON_PARSE_ERROR")
            return None
        if not isinstance(message, dict):
            await self.error(ws, "JSON_PARSE_ERROR")
            return None
        kind = message.get("type")
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            return None
        text_key = {
            "start_agent": "user_request",
            "user_message": "message" if self.dialect == "reference" else "content",
        }.get(str(kind))
        if text_key is None:
            if self.dialect == "netra":
                await ws.send(
                    json.dumps({"type": "ack", "received_type": kind, "status": "acknowledged"})
                )
            else:
                await self.error(ws, "UNKNOWN_TYPE")
            return None
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get(text_key), str):
            await self.error(ws, "VALIDATION_ERROR")
            return None
        thread = payload.get("thread_id")
        thread = thread if isinstance(thread, str) else "t-0"
        given = (
            payload.get("run_id") if self.dialect == "reference" and kind == "start_agent" else None
        )
        run_id = given if isinstance(given, str) else f"run_{uuid.uuid4().hex[:12]}"
        return asyncio.create_task(self.play(ws, user, thread, run_id))

    async def error(self, ws: ServerConnection, code: str) -> None:
        await ws.send(json.dumps({"type": "error_message", "error_code": code, "message": code}))

    async def play(self, ws: ServerConnection, user: str, thread: str, run_id: str) -> None:
        execution = uuid.uuid4().hex[:8]
        steps: list[tuple[str, dict[str, Any]]] = [
            ("agent_started", {"agent_name": "hostile"}),
            ("agent_thinking", {"reasoning": "thinking"}),
            ("tool_executing", {"tool_name": "lookup", "execution_id": execution}),
            (
                "tool_completed",
                {
                    "tool_name": "lookup",
                    "execution_id": execution,
                    "success": True,
                    "results": [],
                    "duration": STEP,
                },
            ),
            ("agent_completed", {"status": "completed", "final_response": "done"}),
        ]
        stamped = run_id + ESCAPES if self.does("escape_run_id") else run_id
        with contextlib.suppress(ConnectionClosed):
            for kind, fields in steps:
                await asyncio.sleep(STEP)
                now = time.time() * (1000 if self.does("epoch_ms") else 1)
                body = {
                    "run_id": stamped,
                    "thread_id": thread,
                    "user_id": user,
                    "timestamp": now,
                    **fields,
                }
                shaped = {"payload": body} if self.does("nest_payload") else body
                await ws.send(json.dumps({"type": kind, **shaped}))


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.hostile_backend")
    parser.add_argument("--dialect", choices=get_args(Dialect), default="reference")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--misbehave", choices=MISBEHAVIOURS, action="append", default=[])
    args = parser.parse_args(argv)
    backend = Backend(args.dialect, os.environ[SECRET_ENV], frozenset(args.misbehave))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with serve(
        backend.serve,
        "127.0.0.1",
        args.port,
        process_request=backend.process_request,
        select_subprotocol=backend.select_subprotocol,
        max_size=MAX_FRAME[args.dialect],
        compression=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY port={port}", flush=True)
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
