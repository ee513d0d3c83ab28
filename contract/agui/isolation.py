"""Isolation across streams (rule `isolation`): a stream holds nothing of another request's.

    every RunRequest the suite sent --Tokens--> who owns each token
    one stream's events --check_isolation--> findings: another request's token, anywhere

Every string of every event (keys too, at any depth: a MESSAGES_SNAPSHOT's history, a state)
is searched for the suite's tokens (`requests.TOKEN_PATTERN`); one owned by another request,
another user's or another run of the same user's, is a leak. Message and tool-call ids the
backend makes are not the suite's tokens and may repeat across streams: pydantic-ai's
TestModel gives every run the same tool-call id, and AG-UI does not forbid it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contract.agui.requests import TOKEN_PATTERN

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from contract.agui.events import Placed
    from contract.agui.requests import RunRequest
    from contract.agui.verdicts import Findings

KINDS = {"thread": "threadId", "run": "runId", "msg": "message id", "canary": "canary"}


class Tokens:
    """Every token the suite sent, and the request it belongs to."""

    def __init__(self, requests: Iterable[RunRequest] = ()) -> None:
        self.owners: dict[str, RunRequest] = {}
        for request in requests:
            self.add(request)

    def add(self, request: RunRequest) -> None:
        for token in request.tokens:
            if not TOKEN_PATTERN.fullmatch(token):
                raise ValueError(f"{token!r} is not a token isolation can find (make_request)")
            self.owners[token] = request

    def owner(self, token: str) -> RunRequest | None:
        return self.owners.get(token)


def strings_of(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value: its object keys, its strings, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)


def check_isolation(
    placed: Sequence[Placed], request: RunRequest, tokens: Tokens, findings: Findings
) -> None:
    for item in placed:
        foreign: dict[str, RunRequest] = {}
        for text in strings_of(item.event):
            for token in TOKEN_PATTERN.findall(text):
                owner = tokens.owner(token)
                if owner is not None and owner.run_id != request.run_id:
                    foreign.setdefault(token, owner)
        for token, owner in foreign.items():
            kind = KINDS[token.split("-")[1]]
            text = f"event #{item.at} {item.type} holds the {kind} {token} of user "
            findings.add("isolation", item.at, f"{text}{owner.user!r} (run {owner.run_id})")
