"""How an AG-UI run is asked for: the RunAgentInput the suite POSTs, and reading one.

    make_request(user) --> RunRequest        fresh threadId, runId, message id and canary
    run_input(request, text) --> dict        the POST body: a RunAgentInput, camelCase JSON
    read_run_input(body) --> RunInput | RunInputError(status, reason)   (the reference backend)

Every id and the canary the suite sends is a token `mc-<kind>-<24 hex>` (`TOKEN_PATTERN`), so
isolation can find any of them in any stream in one pass (contract.agui.isolation). The user's
message carries the canary; a backend may echo it, and only its own.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from contract.rules import refuse_constant

TokenKind = Literal["thread", "run", "msg", "canary"]
TOKEN_PATTERN = re.compile(r"mc-(?:thread|run|msg|canary)-[0-9a-f]{24}")
MAX_ID = 200  # characters of a threadId or runId the reference backend takes


@dataclass(frozen=True)
class RunRequest:
    """One run the suite asks for: whose it is and the tokens it sends."""

    user: str
    thread_id: str
    run_id: str
    message_id: str
    canary: str

    @property
    def tokens(self) -> tuple[str, ...]:
        return (self.canary, self.thread_id, self.run_id, self.message_id)


def make_token(kind: TokenKind) -> str:
    return f"mc-{kind}-{secrets.token_hex(12)}"


def make_request(user: str) -> RunRequest:
    """A run on a fresh thread (a thread carries history on some servers: ag-ui-langgraph)."""
    return RunRequest(
        user=user,
        thread_id=make_token("thread"),
        run_id=make_token("run"),
        message_id=make_token("msg"),
        canary=make_token("canary"),
    )


def user_text(request: RunRequest, text: str) -> str:
    return f"{text} (ref {request.canary})"


def run_input(request: RunRequest, text: str) -> dict[str, Any]:
    """The RunAgentInput asking for `request`'s run: the user's message (with its canary) and
    empty tools, context, state and forwardedProps, every key spelled as AG-UI spells it."""
    return {
        "threadId": request.thread_id,
        "runId": request.run_id,
        "state": {},
        "messages": [
            {"id": request.message_id, "role": "user", "content": user_text(request, text)}
        ],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }


@dataclass(frozen=True)
class RunInput:
    """What the reference backend reads from a RunAgentInput."""

    thread_id: str
    run_id: str
    text: str  # the last user message's text ("" when there is none)


@dataclass
class RunInputError(ValueError):
    """A body that is not a RunAgentInput: the HTTP status to answer with, and why."""

    status: int
    reason: str

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"


def read_id(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        got = "none" if value is None else type(value).__name__
        raise RunInputError(422, f"a RunAgentInput needs {key}: a string of 1-{MAX_ID} (got {got})")
    return value


def read_text(content: object) -> str:
    """A message's text: its content string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "".join(part for part in parts if isinstance(part, str))
    return ""


def read_run_input(body: bytes) -> RunInput:
    """The run a POST body asks for; RunInputError (400: not a JSON object, 422: not a
    RunAgentInput) otherwise. Only what 1.0 requires is demanded: threadId, runId, messages."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
    except UnicodeDecodeError:
        raise RunInputError(400, "the body is not UTF-8") from None
    except ValueError:  # JSONDecodeError, or a NaN/Infinity constant
        raise RunInputError(400, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise RunInputError(400, f"the body is JSON {type(document).__name__}, not an object")
    thread_id, run_id = read_id(document, "threadId"), read_id(document, "runId")
    messages = document.get("messages")
    if not isinstance(messages, list):
        raise RunInputError(422, "a RunAgentInput needs messages: a list")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise RunInputError(422, "every message needs a string role")
    for key in ("tools", "context"):
        if document.get(key) is not None and not isinstance(document[key], list):
            raise RunInputError(422, f"{key} must be a list")
    users = [message for message in messages if message["role"] == "user"]
    text = read_text(users[-1].get("content")) if users else ""
    return RunInput(thread_id, run_id, text)
