"""A dialect: how one family of backends spells the wire contract, read from a TOML file.

    MC_CONTRACT=netra | path/to/x.toml --load_dialect--> Dialect (frozen) | DialectError

It names the transport too: a WebSocket (the reference contract, netra), or an HTTP POST
answered with a Server-Sent Events stream (`sse`: the AG-UI protocol, docs/dialects/ag-ui.md).
A dialect changes names, places and accepted variants, never strictness: it has no key that could
lower a threshold or switch off isolation, delivery, order, ids or the rejection of bad tokens
(an unknown key is an error, so such a key cannot be smuggled in). A key a file leaves out takes
the reference dialect's value. The file's keys and their readers are in `contract.layout`;
docs/dialects.md explains every key; the shipped files are `contract/dialects/*.toml`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from contract.files import FileError, read_text_file
from contract.layout import (
    AUTH_METHODS,
    MAX_FRAME_LIMIT,
    AuthMethod,
    DurationUnit,
    Encoding,
    LayoutError,
    Match,
    Threads,
    Transport,
    UnknownType,
    read_layout,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AUTH_METHODS",
    "DEFAULT",
    "MAX_FRAME_LIMIT",
    "AuthMethod",
    "Dialect",
    "DialectError",
    "Match",
    "StartSpec",
    "Transport",
    "load_dialect",
    "parse_dialect",
    "shipped_dialects",
]

DIALECT_DIR = Path(__file__).resolve().parent / "dialects"
DEFAULT = "reference"


@dataclass
class DialectError(ValueError):
    """A dialect that cannot be used: which file, which key, what is wrong."""

    source: str
    key: str
    problem: str

    def __str__(self) -> str:
        where = f"dialect {self.source}" + (f", key {self.key}" if self.key else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class StartSpec:
    """How a run is asked for: the message type, its payload keys, and how its events are found.

    `match`: `run_id` (the client's run_id is used), `thread` (each run on a fresh thread, the
    events carry it), `order` (one run at a time per user: the first agent_started after the
    request is that run's; its run_id and, with `threads = "server"`, its thread_id are learned).
    """

    type: str
    text_key: str
    thread_key: str
    run_id_key: str  # "" = the server makes every run id; the suite sends none
    threads: Threads
    match: Match
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dialect:
    name: str
    summary: str
    source: str  # the file it was read from, for messages and reports
    transport: Transport
    run_path: str  # sse: the path a run is POSTed to
    websocket_path: str
    health_path: str  # "" (sse only): the backend has no health endpoint
    version_key: str  # "" = the health body reports no version
    auth_methods: tuple[AuthMethod, ...]
    subprotocol_prefix: str
    subprotocol_encoding: Encoding
    query_parameter: str
    claims: Mapping[str, Any]  # extra claims of a minted token; "{uuid}", "{user}" filled in
    reject_statuses: tuple[int, ...]
    reject_close_code: int
    reject_error_frame: bool  # an error frame may come before the rejecting close
    reject_error_codes: tuple[str, ...]  # the codes it may carry (empty: any)
    greeting_type: str
    connection_id_paths: tuple[str, ...]  # dotted paths in the greeting, the first found wins
    payload_key: str
    start_agent: StartSpec
    user_message: StartSpec
    ping_type: str
    pong_type: str
    error_type: str
    error_code_key: str
    not_json_codes: tuple[str, ...]  # empty: any code
    not_an_object_codes: tuple[str, ...]
    missing_field_codes: tuple[str, ...]  # empty: any code that is not a parse error's
    unknown_type: UnknownType
    unknown_type_codes: tuple[str, ...]
    ack_type: str
    ack_received_key: str
    max_frame: int
    event_containers: tuple[str, ...]  # objects in a message that may hold its fields
    duration_unit: DurationUnit
    interleaved: tuple[str, ...]  # other types this family sends (information only)

    @property
    def parse_codes(self) -> frozenset[str]:
        """The codes that mean "that frame was not JSON": wrong for a frame that was."""
        return frozenset({"JSON_PARSE_ERROR", *self.not_json_codes, *self.not_an_object_codes})

    def known_types(self) -> frozenset[str]:
        """Every server message type the contract or this dialect names."""
        return frozenset(
            {
                "agent_started",
                "agent_thinking",
                "tool_executing",
                "tool_completed",
                "agent_completed",
                self.greeting_type,
                self.pong_type,
                self.error_type,
                *([self.ack_type] if self.unknown_type == "ack" else []),
                *self.interleaved,
            }
        )


def shipped_dialects() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in DIALECT_DIR.glob("*.toml")))


def resolve_source(spec: str, *, root: Path | None = None) -> Path:
    """The file `spec` names: a shipped dialect's name, or a path (relative to `root`)."""
    spec = spec.strip() or DEFAULT
    if "/" not in spec and "\\" not in spec and not spec.endswith(".toml"):
        path = DIALECT_DIR / f"{spec}.toml"
        if not path.is_file():
            shipped = ", ".join(shipped_dialects())
            raise DialectError(spec, "", f"no shipped dialect of that name (shipped: {shipped})")
        return path
    path = Path(spec)
    return path if path.is_absolute() or root is None else root / path


def shown_path(path: Path) -> str:
    """`path` as a person would name it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(DIALECT_DIR.parent.parent))
    except ValueError:
        return str(path)


def build_start(values: Mapping[str, object], section: str, source: str) -> StartSpec:
    spec = StartSpec(
        type=cast("str", values["type"]),
        text_key=cast("str", values["text_key"]),
        thread_key=cast("str", values["thread_key"]),
        run_id_key=cast("str", values.get("run_id_key", "")),
        threads=cast("Threads", values["threads"]),
        match=cast("Match", values["match"]),
        extra=cast("dict[str, Any]", values["extra"]),
    )
    if spec.match == "run_id" and not spec.run_id_key:
        raise DialectError(source, f"{section}.match", "run_id needs a run_id_key")
    if spec.threads == "server" and spec.match != "order":
        problem = 'with threads = "server" the events cannot be found by thread: use "order"'
        raise DialectError(source, f"{section}.match", problem)
    reserved = {spec.text_key, spec.thread_key, spec.run_id_key} & spec.extra.keys()
    if reserved:
        raise DialectError(source, f"{section}.extra", f"{min(reserved)!r} is set by the suite")
    return spec


def parse_dialect(text: str, source: str) -> Dialect:
    """The dialect a TOML text describes; DialectError naming the key otherwise."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DialectError(source, "", f"not valid TOML: {exc}") from None
    try:
        v = read_layout(document)
    except LayoutError as exc:
        raise DialectError(source, exc.key, exc.problem) from None
    auth, errors, rejection = v["auth"], v["errors"], v["rejection"]
    start_values = {**v["start_agent"]}
    user_values = {**v["user_message"], "run_id_key": ""}
    return Dialect(
        name=cast("str", v["dialect"]["name"]),
        summary=cast("str", v["dialect"]["summary"]),
        source=source,
        transport=cast("Transport", v["transport"]["kind"]),
        run_path=cast("str", v["transport"]["run_path"]),
        websocket_path=cast("str", v["endpoints"]["websocket_path"]),
        health_path=cast("str", v["endpoints"]["health_path"]),
        version_key=cast("str", v["endpoints"]["version_key"]),
        auth_methods=cast("tuple[AuthMethod, ...]", auth["methods"]),
        subprotocol_prefix=cast("str", auth["subprotocol_prefix"]),
        subprotocol_encoding=cast("Encoding", auth["subprotocol_encoding"]),
        query_parameter=cast("str", auth["query_parameter"]),
        claims=cast("dict[str, Any]", auth["claims"]),
        reject_statuses=cast("tuple[int, ...]", rejection["statuses"]),
        reject_close_code=cast("int", rejection["close_code"]),
        reject_error_frame=cast("bool", rejection["error_frame"]),
        reject_error_codes=cast("tuple[str, ...]", rejection["error_codes"]),
        greeting_type=cast("str", v["greeting"]["type"]),
        connection_id_paths=cast("tuple[str, ...]", v["greeting"]["connection_id"]),
        payload_key=cast("str", v["start_agent"]["payload_key"]),
        start_agent=build_start(start_values, "start_agent", source),
        user_message=build_start(user_values, "user_message", source),
        ping_type=cast("str", v["ping"]["type"]),
        pong_type=cast("str", v["ping"]["answer"]),
        error_type=cast("str", errors["type"]),
        error_code_key=cast("str", errors["code_key"]),
        not_json_codes=cast("tuple[str, ...]", errors["not_json"]),
        not_an_object_codes=cast("tuple[str, ...]", errors["not_an_object"]),
        missing_field_codes=cast("tuple[str, ...]", errors["missing_field"]),
        unknown_type=cast("UnknownType", errors["unknown_type"]),
        unknown_type_codes=cast("tuple[str, ...]", errors["unknown_type_codes"]),
        ack_type=cast("str", errors["ack_type"]),
        ack_received_key=cast("str", errors["ack_received_key"]),
        max_frame=cast("int", v["frames"]["max_size"]),
        event_containers=cast("tuple[str, ...]", v["events"]["containers"]),
        duration_unit=cast("DurationUnit", v["events"]["duration_unit"]),
        interleaved=cast("tuple[str, ...]", v["interleaved"]["types"]),
    )


def load_dialect(spec: str = DEFAULT, *, root: Path | None = None) -> Dialect:
    """The dialect `spec` names (MC_CONTRACT's value); DialectError naming the file and key."""
    path = resolve_source(spec, root=root)
    source = shown_path(path)
    try:
        text = read_text_file(path, shown=source)
    except FileError as exc:
        raise DialectError(source, "", exc.problem) from None
    return parse_dialect(text, source)
