"""The anchor client: a bare ``websockets`` client doing the suite's scenario with no validation.

    BENCH_JWT_SECRET=... python -m bench.bare_client WS_URL USERS [DIALECT [IDLE]]

Mint a token per user (the dialect's claims), open every connection at once (connect + the
greeting; IDLE more that start nothing), start one run on each, read each until its
``agent_completed`` frame (a substring test, no parsing), close all. The same connect options as
the suite; the requests and claims are spelled by ``contract.messages`` (DIALECT, default
``reference``), as the suite's are. Prints one JSON line: total seconds (minting included, as
in the suite's test), seconds to open the connections, events received, and each run's
milliseconds from its request to the frame holding ``agent_started`` and the one holding
``agent_completed``: the monotonic clock before the send, and when the frame was read off the
socket (``Stamped``, written here apart from the suite's own: an anchor shares no code with what
it measures but the dialect's spelling).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode

from contract.dialect import load_dialect
from contract.messages import minted_claims, start_message

if TYPE_CHECKING:
    from websockets.protocol import Event

SECRET_ENV = "BENCH_JWT_SECRET"
BOUND = 60.0  # seconds for the whole scenario
MESSAGES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class Stamped(ClientConnection):
    """Keeps, for each message, the monotonic time its final frame was read off the socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_at: list[float] = []

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.opcode in MESSAGES and event.fin:
            self.read_at.append(time.monotonic())
        super().process_event(event)


async def open_one(url: str, token: str) -> Stamped:
    ws = await connect(
        url,
        create_connection=Stamped,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        proxy=None,
        open_timeout=None,
        ping_interval=None,
        max_queue=None,
    )
    await ws.recv()  # connection_established
    assert isinstance(ws, Stamped)
    return ws


async def run_one(ws: Stamped, request: str) -> tuple[int, float | None, float | None]:
    """Send one run's request and read to its agent_completed: (events, ms to agent_started,
    ms to agent_completed)."""
    events, started, sent = 0, None, time.monotonic()
    await ws.send(request)
    taken = 1  # the greeting's
    async for frame in ws:
        at, taken = ws.read_at[taken], taken + 1
        if not isinstance(frame, str) or ('"agent_' not in frame and '"tool_' not in frame):
            continue  # a heartbeat or another interleaved message: not an event
        events += 1
        if started is None and '"agent_started"' in frame:
            started = (at - sent) * 1000
        if '"agent_completed"' in frame:
            return events, started, (at - sent) * 1000
    return events, started, None


async def scenario(
    url: str, users: int, secret: str, dialect_name: str, idle: int = 0
) -> dict[str, object]:
    dialect = load_dialect(dialect_name)
    started = time.perf_counter()
    now = time.time()
    tokens = [
        jwt.encode(
            minted_claims(dialect, f"bench-bare-{i}", now=now, expires_in=600),
            secret,
            algorithm="HS256",
        )
        for i in range(users + idle)
    ]
    requests = [
        json.dumps(
            start_message(
                dialect,
                "start_agent",
                text="bench",
                thread_id=f"bench-thread-{i}",
                run_id=f"bench-run-{i}",
            )
        )
        for i in range(users)
    ]
    opening = time.perf_counter()
    sockets = await asyncio.gather(*(open_one(url, token) for token in tokens))
    opened = time.perf_counter()
    try:
        runs = await asyncio.gather(
            *(run_one(ws, request) for ws, request in zip(sockets[:users], requests, strict=True))
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    finished = time.perf_counter()
    return {
        "s": finished - started,
        "open_s": opened - opening,
        "events": sum(events for events, _, _ in runs),
        "agent_started": [ms for _, ms, _ in runs if ms is not None],
        "agent_completed": [ms for _, _, ms in runs if ms is not None],
    }


async def bounded(url: str, users: int, secret: str, dialect: str, idle: int) -> dict[str, object]:
    async with asyncio.timeout(BOUND):
        return await scenario(url, users, secret, dialect, idle)


def main(argv: list[str]) -> int:
    secret = os.environ.get(SECRET_ENV, "")
    counts = [argv[1], *argv[3:4]]
    if not 2 <= len(argv) <= 4 or not all(c.isdigit() for c in counts) or not secret:
        usage = f"usage: {SECRET_ENV}=... python -m bench.bare_client WS_URL USERS [DIALECT [IDLE]]"
        print(usage, file=sys.stderr)
        return 2
    dialect = argv[2] if len(argv) >= 3 else "reference"
    idle = int(argv[3]) if len(argv) == 4 else 0
    print(json.dumps(asyncio.run(bounded(argv[0], int(argv[1]), secret, dialect, idle))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
