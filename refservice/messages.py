"""Client frames in, server frames out: parsing and rendering, without any I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Shape = Literal["flat", "data"]
SHAPES: tuple[Shape, ...] = ("flat", "data")
ErrorCode = Literal["JSON_PARSE_ERROR", "UNKNOWN_MESSAGE_TYPE", "VALIDATION_ERROR", "RUN_ID_IN_USE"]


@dataclass(frozen=True)
class StartRun:
    """A request to start a run (`start_agent` or `user_message`)."""

    user_request: str
    thread_id: str
    run_id: str | None


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class BadInput:
    """A frame the server answers with an error_message."""

    code: ErrorCode
    message: str


ClientMessage = StartRun | Ping | BadInput


def read_string(payload: dict[str, Any], key: str, where: str) -> str | BadInput:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        return BadInput("VALIDATION_ERROR", f"{where}: 'payload.{key}' must be a non-empty string")
    return value


def parse_start_run(message: dict[str, Any], message_type: str) -> StartRun | BadInput:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return BadInput("VALIDATION_ERROR", f"{message_type}: 'payload' must be a JSON object")
    text_key = "user_request" if message_type == "start_agent" else "message"
    user_request = read_string(payload, text_key, message_type)
    if isinstance(user_request, BadInput):
        return user_request
    thread_id = read_string(payload, "thread_id", message_type)
    if isinstance(thread_id, BadInput):
        return thread_id
    run_id: str | None = None
    if message_type == "start_agent" and payload.get("run_id") is not None:
        given = read_string(payload, "run_id", message_type)
        if isinstance(given, BadInput):
            return given
        run_id = given
    return StartRun(user_request, thread_id, run_id)


def parse_client_message(frame: str | bytes) -> ClientMessage:
    """What a client frame asks for, or why it cannot be served."""
    if isinstance(frame, bytes):
        return BadInput("JSON_PARSE_ERROR", "binary frame; send a text frame holding JSON")
    try:
        message = json.loads(frame)
    except ValueError as exc:
        return BadInput("JSON_PARSE_ERROR", f"frame is not valid JSON: {exc}")
    if not isinstance(message, dict):
        kind = type(message).__name__
        return BadInput("JSON_PARSE_ERROR", f"frame is JSON {kind}, expected an object")
    message_type = message.get("type")
    if not isinstance(message_type, str):
        return BadInput("VALIDATION_ERROR", "message field 'type' must be a string")
    if message_type == "ping":
        return Ping()
    if message_type in {"start_agent", "user_message"}:
        return parse_start_run(message, message_type)
    return BadInput(
        "UNKNOWN_MESSAGE_TYPE",
        f"unknown message type {message_type[:60]!r}; expected start_agent, user_message or ping",
    )


def render_message(message_type: str, fields: dict[str, Any], shape: Shape) -> str:
    """One server frame: `fields` at the top level (flat) or inside `data` (data)."""
    if shape == "data":
        return json.dumps({"type": message_type, "data": fields})
    return json.dumps({"type": message_type, **fields})


def render_greeting(connection_id: str) -> str:
    return json.dumps({"type": "connection_established", "data": {"connection_id": connection_id}})


PONG = json.dumps({"type": "pong"})
