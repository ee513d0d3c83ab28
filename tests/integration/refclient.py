"""Client helpers for the reference backend's tests: tokens, connections, bounded reads."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jwt
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

if TYPE_CHECKING:
    from tests.integration.conftest import RunningService

AuthMethod = Literal["header", "subprotocol", "query", "none"]
FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
WAIT = 5.0  # bound on any single network wait
QUIET = 0.4  # a window with no message; >= 25 x the longest pause at --delay 0.01
FAST = ("--delay", "0.01")
REPO_ROOT = Path(__file__).resolve().parents[2]
FORGED_SECRET = "not-the-secret-" + "x" * 32


def make_token(
    service: RunningService, sub: str = "alice", ttl: float = 300, secret: str | None = None
) -> str:
    key = secret or service.secret
    assert key is not None
    return jwt.encode({"sub": sub, "exp": int(time.time() + ttl)}, key, algorithm="HS256")


def open_client(
    service: RunningService, token: str | None, method: AuthMethod = "header"
) -> connect:
    url, headers = service.ws_url, {}
    subprotocols: list[Subprotocol] | None = None
    if method == "header" and token is not None:
        headers["Authorization"] = f"Bearer {token}"
    elif method == "subprotocol" and token is not None:
        encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        subprotocols = [Subprotocol(f"jwt.{encoded}")]
    elif method == "query" and token is not None:
        url += f"?token={token}"
    return connect(
        url,
        additional_headers=headers,
        subprotocols=subprotocols,
        open_timeout=WAIT,
        close_timeout=1,
    )


async def recv_json(ws: ClientConnection, bound: float = WAIT) -> dict[str, Any]:
    async with asyncio.timeout(bound):
        message = json.loads(await ws.recv())
    assert isinstance(message, dict)
    return message


async def greet(ws: ClientConnection) -> str:
    greeting = await recv_json(ws)
    assert greeting["type"] == "connection_established"
    connection_id = greeting["data"]["connection_id"]
    assert isinstance(connection_id, str)
    return connection_id


async def send_start(ws: ClientConnection, run_id: str, thread_id: str = "t-1") -> None:
    payload = {"user_request": "find the weather", "thread_id": thread_id, "run_id": run_id}
    await ws.send(json.dumps({"type": "start_agent", "payload": payload}))


async def collect_quietly(ws: ClientConnection, quiet: float = QUIET) -> list[dict[str, Any]]:
    """Every message until none arrives for `quiet` seconds (bounded by 10 s overall)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while True:
            try:
                messages.append(await recv_json(ws, quiet))
            except TimeoutError:
                return messages


async def collect_run(ws: ClientConnection, run_id: str) -> list[dict[str, Any]]:
    """The events of `run_id` up to agent_completed, then any stragglers in a quiet window."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while not events or events[-1]["type"] != "agent_completed":
            message = await recv_json(ws)
            if read_field(message, "run_id") == run_id:
                events.append(message)
    return events + await collect_quietly(ws)


def read_field(message: dict[str, Any], key: str) -> Any:
    """Top level wins; else inside `data` (the contract's flat or data shape)."""
    if key in message:
        return message[key]
    data = message.get("data")
    return data.get(key) if isinstance(data, dict) else None


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def http_get(service: RunningService, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(service.host, service.port, timeout=WAIT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()
