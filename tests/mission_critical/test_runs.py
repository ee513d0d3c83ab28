"""One user's runs: every event, schema-valid, in contract order, with the run's ids.

Rules: schema, started-first, thinking, tool-pairing, completed-last, ids, delivery.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .engine.check import Check

pytestmark = pytest.mark.mission_critical

RUN_RULES = ("schema", "started-first", "thinking", "tool-pairing", "completed-last", "ids")
RUNS_ON_ONE_CONNECTION = 3  # at once; one after another where the dialect matches by order


@pytest.mark.rules(*RUN_RULES, "delivery")
async def test_full_run_delivers_all_five_events_in_order(mc: Check) -> None:
    (user,) = mc.users(1, "full")
    session = await mc.connect(user)
    run = await session.start_run()
    await mc.finish(session, [run])
    mc.judge(session)


@pytest.mark.rules(*RUN_RULES, "delivery")
async def test_user_message_starts_a_run(mc: Check) -> None:
    (user,) = mc.users(1, "message")
    session = await mc.connect(user)
    run = await session.start_run("user_message")
    await mc.finish(session, [run])
    mc.judge(session)


@pytest.mark.rules(*RUN_RULES, "delivery")
async def test_interleaved_runs_on_one_connection(mc: Check) -> None:
    (user,) = mc.users(1, "interleaved")
    session = await mc.connect(user)
    runs = await asyncio.gather(*(session.start_run() for _ in range(RUNS_ON_ONE_CONNECTION)))
    await mc.finish(session, runs)
    mc.judge(session)
