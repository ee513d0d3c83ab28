"""The dialect file's layout: every section and key, how its value is read, its reference value.

    TOML document --read_layout--> {section: {key: value}} | LayoutError (which key, what)

A key a file leaves out takes the reference dialect's value; an unknown section or key is an
error, so no key that could loosen a rule can be smuggled in. A key only one transport reads
(`ONE_TRANSPORT`) is an error in a file of the other, as it would mean nothing there.
`contract.dialect` builds the `Dialect` from what this returns; docs/dialects.md explains every
key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

AuthMethod = Literal["header", "subprotocol", "query"]
AUTH_METHODS: tuple[AuthMethod, ...] = get_args(AuthMethod)
Transport = Literal["websocket", "sse"]
TRANSPORTS: tuple[Transport, ...] = get_args(Transport)
# How each transport can take a token: an HTTP POST has no subprotocol, and AG-UI's clients send
# `Authorization: Bearer` (docs/dialects/ag-ui.md).
TRANSPORT_METHODS: dict[Transport, tuple[AuthMethod, ...]] = {
    "websocket": AUTH_METHODS,
    "sse": ("header",),
}
Encoding = Literal["base64url", "raw"]
Match = Literal["run_id", "thread", "order"]
Threads = Literal["client", "server"]
UnknownType = Literal["error", "ack"]
DurationUnit = Literal["seconds", "milliseconds", "either"]
RESERVED_CLAIMS = frozenset({"sub", "iat", "exp", "nbf"})  # the suite sets these itself
PLACEHOLDERS = frozenset({"{uuid}", "{user}"})
MAX_FRAME_LIMIT = 256 * 2**20


@dataclass
class LayoutError(ValueError):
    """A key of the file that cannot be read: which (`section.key`), and what is wrong."""

    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}"


# ---- value readers: each returns the value or raises ValueError with a short reason ------------


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _name(value: object) -> str:
    text = _text(value)
    if not text.strip() or text != text.strip() or len(text) > 200:
        raise ValueError(f"expected a non-empty name without surrounding spaces, got {text!r:.60}")
    return text


def _optional_name(value: object) -> str:
    return "" if value == "" else _name(value)


def _path(value: object) -> str:
    text = _name(value)
    if not text.startswith("/") or "?" in text or "#" in text:
        raise ValueError(f"expected a URL path starting with '/', got {text!r:.60}")
    return text


def _optional_path(value: object) -> str:
    return "" if value == "" else _path(value)


def _names(value: object, *, allow_empty: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {type(value).__name__}")
    names = tuple(_name(item) for item in value)
    if len(set(names)) != len(names):
        raise ValueError("names one value twice")
    if not names and not allow_empty:
        raise ValueError("must not be empty")
    return names


def _some_names(value: object) -> tuple[str, ...]:
    return _names(value, allow_empty=False)


def _choice(*allowed: str) -> Callable[[object], str]:
    def read(value: object) -> str:
        text = _text(value)
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {text!r:.60}")
        return text

    return read


def _methods(value: object) -> tuple[AuthMethod, ...]:
    names = _names(value, allow_empty=False)
    wrong = [name for name in names if name not in AUTH_METHODS]
    if wrong:
        raise ValueError(f"{wrong[0]!r:.60} is not one of {', '.join(AUTH_METHODS)}")
    return cast("tuple[AuthMethod, ...]", names)


def _int(low: int, high: int) -> Callable[[object], int]:
    def read(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {value}")
        return value

    return read


def _statuses(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of HTTP statuses")
    return tuple(_int(400, 499)(item) for item in value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def _json_value(value: object, where: str = "") -> Any:
    """A TOML value that is also plain JSON (no dates or times)."""
    if isinstance(value, dict):
        return {_text(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(item, where) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"{where.lstrip('.') or 'value'}: a {type(value).__name__} is not JSON")


def _table(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {type(value).__name__}")
    parsed: dict[str, Any] = _json_value(value)
    return parsed


def _claims(value: object) -> dict[str, Any]:
    claims = _table(value)
    reserved = sorted(RESERVED_CLAIMS & claims.keys())
    if reserved:
        raise ValueError(f"{reserved[0]!r} is set by the suite itself (sub, iat, exp, nbf)")
    for key, claim in claims.items():
        if isinstance(claim, str) and "{" in claim and claim not in PLACEHOLDERS:
            raise ValueError(f"claim {key!r}: the only placeholders are {sorted(PLACEHOLDERS)}")
    return claims


# ---- the file's layout: section -> key -> (reader, reference value) ------------------------------

LAYOUT: dict[str, dict[str, tuple[Callable[[object], object], object]]] = {
    "dialect": {"name": (_name, "reference"), "summary": (_text, "")},
    "transport": {
        "kind": (_choice(*TRANSPORTS), "websocket"),
        "run_path": (_path, "/"),
    },
    "endpoints": {
        "websocket_path": (_path, "/ws"),
        "health_path": (_optional_path, "/health"),
        "version_key": (_optional_name, "version"),
    },
    "auth": {
        "methods": (_methods, ["header", "subprotocol", "query"]),
        "subprotocol_prefix": (_name, "jwt."),
        "subprotocol_encoding": (_choice(*get_args(Encoding)), "base64url"),
        "query_parameter": (_name, "token"),
        "claims": (_claims, {}),
    },
    "rejection": {
        "statuses": (_statuses, [401, 403]),
        "close_code": (_int(1000, 4999), 1008),
        "error_frame": (_bool, False),
        "error_codes": (_names, []),
    },
    "greeting": {
        "type": (_name, "connection_established"),
        "connection_id": (_some_names, ["data.connection_id", "connection_id"]),
    },
    "start_agent": {
        "type": (_name, "start_agent"),
        "payload_key": (_name, "payload"),
        "text_key": (_name, "user_request"),
        "thread_key": (_name, "thread_id"),
        "run_id_key": (_optional_name, "run_id"),
        "threads": (_choice(*get_args(Threads)), "client"),
        "match": (_choice(*get_args(Match)), "run_id"),
        "extra": (_table, {}),
    },
    "user_message": {
        "type": (_name, "user_message"),
        "text_key": (_name, "message"),
        "thread_key": (_name, "thread_id"),
        "threads": (_choice(*get_args(Threads)), "client"),
        "match": (_choice(*get_args(Match)), "thread"),
        "extra": (_table, {}),
    },
    "ping": {"type": (_name, "ping"), "answer": (_name, "pong")},
    "errors": {
        "type": (_name, "error_message"),
        "code_key": (_name, "error_code"),
        "not_json": (_names, ["JSON_PARSE_ERROR"]),
        "not_an_object": (_names, ["JSON_PARSE_ERROR"]),
        "missing_field": (_names, []),
        "unknown_type": (_choice(*get_args(UnknownType)), "error"),
        "unknown_type_codes": (_names, []),
        "ack_type": (_name, "ack"),
        "ack_received_key": (_name, "received_type"),
    },
    "frames": {"max_size": (_int(64, MAX_FRAME_LIMIT), 2**20)},
    "events": {
        "containers": (_names, ["data"]),
        "duration_unit": (_choice(*get_args(DurationUnit)), "seconds"),
    },
    "interleaved": {"types": (_names, [])},
}


# What only one transport reads, by section or by `section.key`: the WebSocket dialects' frames,
# and the run path of an HTTP POST. A file of the other transport that states one is an error.
ONE_TRANSPORT: dict[str, Transport] = {
    "transport.run_path": "sse",
    "endpoints.websocket_path": "websocket",
    "auth.subprotocol_prefix": "websocket",
    "auth.subprotocol_encoding": "websocket",
    "auth.query_parameter": "websocket",
    "rejection.close_code": "websocket",
    "rejection.error_frame": "websocket",
    "rejection.error_codes": "websocket",
    "greeting": "websocket",
    "start_agent": "websocket",
    "user_message": "websocket",
    "ping": "websocket",
    "errors": "websocket",
    "frames": "websocket",
    "events": "websocket",
    "interleaved": "websocket",
}


def check_transport(
    document: Mapping[str, Any], values: Mapping[str, Mapping[str, object]]
) -> None:
    """The keys `document` states are ones its transport reads, and hold values it can have."""
    kind = cast("Transport", values["transport"]["kind"])
    for section, body in document.items():
        for where in (section, *(f"{section}.{key}" for key in body)):
            if ONE_TRANSPORT.get(where, kind) != kind:
                problem = (
                    f"only the {ONE_TRANSPORT[where]} transport reads it; this dialect's is {kind}"
                )
                raise LayoutError(where, problem)
    methods = cast("tuple[AuthMethod, ...]", values["auth"]["methods"])
    wrong = [method for method in methods if method not in TRANSPORT_METHODS[kind]]
    if wrong:
        takes = ", ".join(TRANSPORT_METHODS[kind])
        problem = f"{wrong[0]!r} is not a way the {kind} transport takes a token (it takes {takes})"
        raise LayoutError("auth.methods", problem)
    if kind == "websocket" and not values["endpoints"]["health_path"]:
        problem = 'the websocket transport checks its health endpoint: "" is for sse dialects'
        raise LayoutError("endpoints.health_path", problem)


def read_layout(document: Mapping[str, Any]) -> dict[str, dict[str, object]]:
    """Every key of the layout, from `document` or the reference value; LayoutError otherwise."""
    for section, body in document.items():
        if section not in LAYOUT:
            raise LayoutError(section, f"unknown section (expected {', '.join(LAYOUT)})")
        if not isinstance(body, dict):
            raise LayoutError(section, "expected a table ([section])")
        for key in body:
            if key not in LAYOUT[section]:
                known = ", ".join(LAYOUT[section])
                raise LayoutError(f"{section}.{key}", f"unknown key (expected {known})")
    values: dict[str, dict[str, object]] = {}
    for section, keys in LAYOUT.items():
        given = document.get(section, {})
        values[section] = {}
        for key, (read, default) in keys.items():
            try:
                values[section][key] = read(given.get(key, default))
            except ValueError as exc:
                raise LayoutError(f"{section}.{key}", str(exc)) from None
    check_transport(document, values)
    return values
