"""The frames and tokens a dialect spells, both ways: what a client sends, what a server reads.

The suite builds its requests here and the reference backend parses them here, so the two can
never disagree about a dialect. Pure functions of a `Dialect`; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import TYPE_CHECKING, Any, Literal

from contract.rules import normalize, string_field

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contract.dialect import Dialect, StartSpec

StartKind = Literal["start_agent", "user_message"]


def start_spec(dialect: Dialect, kind: StartKind) -> StartSpec:
    return dialect.start_agent if kind == "start_agent" else dialect.user_message


def start_message(
    dialect: Dialect,
    kind: StartKind,
    *,
    text: str | None,
    thread_id: str | None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The request that starts a run (`text` None: left out, to provoke a validation error;
    `run_id` is sent only where the dialect names a key for it)."""
    spec = start_spec(dialect, kind)
    payload: dict[str, Any] = dict(spec.extra)
    if text is not None:
        payload[spec.text_key] = text
    if thread_id is not None:
        payload[spec.thread_key] = thread_id
    if run_id is not None and spec.run_id_key:
        payload[spec.run_id_key] = run_id
    return {"type": spec.type, dialect.payload_key: payload}


def ping_message(dialect: Dialect) -> dict[str, Any]:
    return {"type": dialect.ping_type}


def error_code_of(message: Mapping[str, Any], dialect: Dialect) -> object:
    """The code an error message carries (at the top level or in a container), as sent."""
    return normalize(message, ("data", "payload", *dialect.event_containers)).get(
        dialect.error_code_key
    )


def subprotocol_for(dialect: Dialect, token: str) -> str:
    """`<prefix><token>` in the dialect's encoding (base64url without padding, or raw)."""
    if dialect.subprotocol_encoding == "raw":
        return f"{dialect.subprotocol_prefix}{token}"
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return f"{dialect.subprotocol_prefix}{encoded}"


def token_from_subprotocol(dialect: Dialect, value: str, prefixes: tuple[str, ...]) -> str | None:
    """The token inside an offered subprotocol that starts with one of `prefixes` (None when
    it starts with none); ValueError when it cannot be decoded."""
    prefix = next((p for p in prefixes if value.startswith(p) and len(value) > len(p)), None)
    if prefix is None:
        return None
    inner = value[len(prefix) :]
    if dialect.subprotocol_encoding == "raw":
        return inner
    try:
        decoded = base64.urlsafe_b64decode(inner + "=" * (-len(inner) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError(f"the {prefix}* subprotocol is not valid base64url") from None
    return decoded


def minted_claims(dialect: Dialect, user: str, *, now: float, expires_in: float) -> dict[str, Any]:
    """The claims of a token for `user`: the dialect's extra claims (placeholders filled in),
    then `sub`, `iat` and `exp` (an expired token was also issued in the past)."""
    issued = now if expires_in > 0 else now + expires_in - 60
    claims: dict[str, Any] = {}
    for key, value in dialect.claims.items():
        if value == "{uuid}":
            claims[key] = uuid.uuid4().hex
        elif value == "{user}":
            claims[key] = user
        else:
            claims[key] = value
    claims.update({"sub": user, "iat": int(issued), "exp": int(now + expires_in)})
    return claims


def claim_problems(dialect: Dialect, claims: Mapping[str, Any]) -> list[str]:
    """Why `claims` (already verified as signed and unexpired) lack what the dialect demands."""
    problems = []
    for key, wanted in dialect.claims.items():
        got = claims.get(key)
        if wanted in {"{uuid}", "{user}"}:
            if not isinstance(got, str) or not got:
                problems.append(f"claim {key!r} is missing or not a non-empty string")
            elif wanted == "{user}" and got != claims.get("sub"):
                problems.append(f"claim {key!r} does not name the token's subject")
        elif got != wanted:
            problems.append(f"claim {key!r} is {'missing' if got is None else 'wrong'}")
    return problems


def greeting_message(dialect: Dialect, connection_id: str) -> dict[str, Any]:
    """A greeting that puts the connection id at the dialect's first path."""
    message: dict[str, Any] = {"type": dialect.greeting_type}
    node = message
    *parents, leaf = dialect.connection_id_paths[0].split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = connection_id
    return message


def is_ack_for(message: Mapping[str, Any], dialect: Dialect, sent_type: str) -> bool:
    """Whether `message` acknowledges a frame of `sent_type` as the dialect spells an ack."""
    flat = normalize(message, ("data", "payload", *dialect.event_containers))
    return (
        flat.get("type") == dialect.ack_type
        and string_field(flat, dialect.ack_received_key) == sent_type
    )


def frame(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))
