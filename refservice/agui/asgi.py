"""The few ASGI pieces the `ag-ui` app needs, written against the spec: no framework, so no
middleware can buffer a stream (Starlette's BaseHTTPMiddleware can, DESIGN.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
MAX_BODY = 1 << 20  # bytes of a RunAgentInput the service reads; more is refused with 413


class BodyTooLargeError(Exception):
    """A request body over MAX_BODY."""


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of one request header (names are lower-case in ASGI)."""
    return [value.decode("latin-1") for key, value in scope["headers"] if key == name]


async def respond(
    send: Send,
    status: int,
    body: str | object,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """A whole response: `body` a str is sent as text/plain, anything else as JSON."""
    if isinstance(body, str):
        payload, kind = body.encode(), "text/plain; charset=utf-8"
    else:
        payload, kind = json.dumps(body).encode(), "application/json"
    fields = [("content-type", kind), ("content-length", str(len(payload))), *headers]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(key.encode(), value.encode()) for key, value in fields],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    """The whole request body; BodyTooLargeError past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def wait_for_disconnect(receive: Receive) -> None:
    """Returns once the client has gone (the request body is read by then)."""
    while (await receive())["type"] != "http.disconnect":
        pass
