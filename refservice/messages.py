"""Client frames in, server frames out, in the dialect the service speaks: no I/O.

The request keys (start types, payload and text keys, run and thread ids, ping) come from the
dialect, through the same `contract.messages` the suite builds its requests with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from contract.messages import start_spec

if TYPE_CHECKING:
    from contract.dialect import Dialect
    from contract.messages import StartKind

Shape = Literal["flat", "data"]
SHAPES: tuple[Shape, ...] = ("flat", "data")
BadKind = Literal["not_json", "not_an_object", "missing_field", "unknown_type", "run_id_in_use"]
DEFAULT_CODES: dict[BadKind, str] = {
    "not_json": "JSON_PARSE_ERROR",
    "not_an_object": "JSON_PARSE_ERROR",
    "missing_field": "VALIDATION_ERROR",
    "unknown_type": "UNKNOWN_MESSAGE_TYPE",
    "run_id_in_use": "RUN_ID_IN_USE",
}


@dataclass(frozen=True)
class StartRun:
    """A request to start a run (the dialect's start_agent or user_message)."""

    user_request: str
    thread_id: str
    run_id: str | None
    kind: StartKind = "start_agent"


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Unknown:
    """A JSON object of a type the service does not know (an ack or an error, per dialect)."""

    type: str


@dataclass(frozen=True)
class BadInput:
    """A frame the server answers with an error message."""

    kind: BadKind
    message: str

    def code(self, dialect: Dialect) -> str:
        """The error code the dialect expects for this kind (its first, else the reference's)."""
        fixed = {
            "not_json": dialect.not_json_codes,
            "not_an_object": dialect.not_an_object_codes,
            "missing_field": dialect.missing_field_codes,
            "unknown_type": dialect.unknown_type_codes,
            "run_id_in_use": (),
        }[self.kind]
        return fixed[0] if fixed else DEFAULT_CODES[self.kind]


ClientMessage = StartRun | Ping | Unknown | BadInput


def read_string(payload: dict[str, Any], key: str, where: str) -> str | BadInput:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        return BadInput("missing_field", f"{where}: 'payload.{key}' must be a non-empty string")
    return value


def parse_start_run(
    message: dict[str, Any], kind: StartKind, dialect: Dialect
) -> StartRun | BadInput:
    spec = start_spec(dialect, kind)
    payload = message.get(dialect.payload_key)
    if not isinstance(payload, dict):
        return BadInput("missing_field", f"{spec.type}: '{dialect.payload_key}' must be an object")
    user_request = read_string(payload, spec.text_key, spec.type)
    if isinstance(user_request, BadInput):
        return user_request
    thread_id = read_string(payload, spec.thread_key, spec.type)
    if isinstance(thread_id, BadInput):
        return thread_id
    run_id: str | None = None
    if spec.run_id_key and payload.get(spec.run_id_key) is not None:
        given = read_string(payload, spec.run_id_key, spec.type)
        if isinstance(given, BadInput):
            return given
        run_id = given
    return StartRun(user_request, thread_id, run_id, kind)


def parse_client_message(frame: str | bytes, dialect: Dialect) -> ClientMessage:
    """What a client frame asks for, or why it cannot be served."""
    if isinstance(frame, bytes):
        return BadInput("not_json", "binary frame; send a text frame holding JSON")
    try:
        message = json.loads(frame)
    except ValueError as exc:
        return BadInput("not_json", f"frame is not valid JSON: {exc}")
    if not isinstance(message, dict):
        kind = type(message).__name__
        return BadInput("not_an_object", f"frame is JSON {kind}, expected an object")
    message_type = message.get("type")
    if not isinstance(message_type, str):
        return BadInput("missing_field", "message field 'type' must be a string")
    if message_type == dialect.ping_type:
        return Ping()
    if message_type == dialect.start_agent.type:
        return parse_start_run(message, "start_agent", dialect)
    if message_type == dialect.user_message.type:
        return parse_start_run(message, "user_message", dialect)
    return Unknown(message_type[:200])


def render_message(message_type: str, fields: dict[str, Any], shape: Shape) -> str:
    """One server frame: `fields` at the top level (flat) or inside `data` (data)."""
    if shape == "data":
        return json.dumps({"type": message_type, "data": fields})
    return json.dumps({"type": message_type, **fields})


def render_error(dialect: Dialect, code: str, text: str, shape: Shape) -> str:
    fields = {dialect.error_code_key: code, "message": text}
    return render_message(dialect.error_type, fields, shape)


def render_ack(dialect: Dialect, received: str) -> str:
    fields = {dialect.ack_received_key: received, "status": "acknowledged"}
    return json.dumps({"type": dialect.ack_type, **fields})


def render_pong(dialect: Dialect) -> str:
    return json.dumps({"type": dialect.pong_type})
