"""One user's runs: every event, schema-valid, in contract order, with the run's ids.

Rules: schema, started-first, thinking, tool-pairing, completed-last, ids, delivery.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from contract.routing import Ledger
from contract.rules import EVENT_TYPES

from .client import Endpoint, Session, require_clean
from .event_schemas import schema_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from .environment import Credential

pytestmark = [pytest.mark.mission_critical, pytest.mark.asyncio]

RUNS_AT_ONCE = 3  # interleaved runs on one connection


async def test_full_run_delivers_all_five_events_in_order(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "full")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    try:
        run = await session.start_agent()
        await session.finish_runs([run])
    finally:
        await session.close()
    violations = session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES)
    require_clean(violations, session.describe())


async def test_user_message_starts_a_run(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "message")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    try:
        run = await session.send_user_message()
        await session.finish_runs([run])
    finally:
        await session.close()
    require_clean(
        session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES), session.describe()
    )


async def test_interleaved_runs_on_one_connection(
    endpoint: Endpoint, ledger: Ledger, users: Callable[[int, str], tuple[Credential, ...]]
) -> None:
    (user,) = users(1, "interleaved")
    session = await Session.open(endpoint, user.user, user.token, ledger)
    try:
        runs = await asyncio.gather(*(session.start_agent() for _ in range(RUNS_AT_ONCE)))
        await session.finish_runs(runs)
    finally:
        await session.close()
    require_clean(
        session.demux.check(schema_errors=schema_errors, require=EVENT_TYPES), session.describe()
    )
