"""Many users at once, each on its own connection: every event to its own user only.

Rules: isolation, delivery, and every run rule for every run.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from contract.routing import Ledger
from contract.rules import EVENT_TYPES, NO_RUN, Violation

from .client import ContractError, Endpoint, Session, close_all, require_clean
from .event_schemas import schema_errors

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .environment import Credential, Settings

pytestmark = [pytest.mark.mission_critical, pytest.mark.asyncio]


async def open_sessions(
    endpoint: Endpoint, ledger: Ledger, credentials: Sequence[Credential]
) -> tuple[list[Session], list[Violation]]:
    """A connection per user, opened all at once; what failed to open, as violations."""
    results = await asyncio.gather(
        *(Session.open(endpoint, c.user, c.token, ledger) for c in credentials),
        return_exceptions=True,
    )
    sessions: list[Session] = []
    violations: list[Violation] = []
    for credential, result in zip(credentials, results, strict=True):
        if isinstance(result, Session):
            sessions.append(result)
        elif isinstance(result, ContractError):
            violations += result.violations
        elif isinstance(result, Exception):
            detail = f"expected a connection; {result.__class__.__name__}: {result}"
            violations.append(Violation("delivery", NO_RUN, credential.user, detail))
        else:
            raise result
    return sessions, violations


async def test_many_users_each_get_only_their_own_complete_runs(
    settings: Settings,
    endpoint: Endpoint,
    ledger: Ledger,
    users: Callable[[int, str], tuple[Credential, ...]],
) -> None:
    credentials = users(settings.users, "load")
    sessions, violations = await open_sessions(endpoint, ledger, credentials)
    try:
        runs = await asyncio.gather(*(session.start_agent() for session in sessions))
        await asyncio.gather(
            *(session.finish_runs([run]) for session, run in zip(sessions, runs, strict=True))
        )
    finally:
        await close_all(sessions)
    for session in sessions:
        violations += session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES)
    require_clean(violations, f"{len(sessions)} of {len(credentials)} users connected")


async def test_idle_user_receives_nothing_of_another_users_run(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    credentials = users(2, "idle")
    sessions, violations = await open_sessions(endpoint, ledger, credentials)
    try:
        if len(sessions) == len(credentials):
            active, _idle = sessions
            run = await active.start_agent()
            await active.finish_runs([run])
    finally:
        await close_all(sessions)
    for session in sessions:
        violations += session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES)
    require_clean(violations)
