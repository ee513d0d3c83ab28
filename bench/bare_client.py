"""The load anchor: a bare ``websockets`` client doing the suite's scenario with no validation.

    BENCH_JWT_SECRET=... python -m bench.bare_client WS_URL USERS

Mint a token per user, open every connection at once (connect + the greeting), start one run on
each, read each until its ``agent_completed`` frame (a substring test, no parsing), close all.
The same connect options as the suite. Prints one JSON line: total seconds (minting included,
as in the suite's test), seconds to open the connections, events received.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import jwt
from websockets.asyncio.client import ClientConnection, connect

SECRET_ENV = "BENCH_JWT_SECRET"
BOUND = 60.0  # seconds for the whole scenario


def mint(user: str, secret: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + 600}, secret, algorithm="HS256")


async def open_one(url: str, token: str) -> ClientConnection:
    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        proxy=None,
        open_timeout=None,
        ping_interval=None,
        max_queue=None,
    )
    await ws.recv()  # connection_established
    return ws


async def read_run(ws: ClientConnection) -> int:
    events = 0
    async for frame in ws:
        events += 1
        if isinstance(frame, str) and '"agent_completed"' in frame:
            break
    return events


async def scenario(url: str, users: int, secret: str) -> dict[str, float]:
    started = time.perf_counter()
    tokens = [mint(f"bench-bare-{index}", secret) for index in range(users)]
    opening = time.perf_counter()
    sockets = await asyncio.gather(*(open_one(url, token) for token in tokens))
    opened = time.perf_counter()
    try:
        await asyncio.gather(
            *(
                ws.send(
                    json.dumps(
                        {
                            "type": "start_agent",
                            "payload": {
                                "user_request": "bench",
                                "thread_id": f"bench-thread-{index}",
                                "run_id": f"bench-run-{index}",
                            },
                        }
                    )
                )
                for index, ws in enumerate(sockets)
            )
        )
        counts = await asyncio.gather(*(read_run(ws) for ws in sockets))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    finished = time.perf_counter()
    return {"s": finished - started, "open_s": opened - opening, "events": sum(counts)}


async def bounded(url: str, users: int, secret: str) -> dict[str, float]:
    async with asyncio.timeout(BOUND):
        return await scenario(url, users, secret)


def main(argv: list[str]) -> int:
    secret = os.environ.get(SECRET_ENV, "")
    if len(argv) != 2 or not argv[1].isdigit() or not secret:
        print(f"usage: {SECRET_ENV}=... python -m bench.bare_client WS_URL USERS", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(bounded(argv[0], int(argv[1]), secret))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
