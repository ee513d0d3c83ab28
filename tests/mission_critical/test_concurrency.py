"""Many users at once, each on its own connection: every event to its own user only.

Rules: isolation, delivery, and every run rule for every run. (Every check of the suite runs at
the same time as the others, so each connection also sees, or must not see, theirs.)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from .test_runs import RUN_RULES

if TYPE_CHECKING:
    from .engine.check import Check

pytestmark = pytest.mark.mission_critical


@pytest.mark.rules("isolation", "delivery", *RUN_RULES)
async def test_many_users_each_get_only_their_own_complete_runs(mc: Check) -> None:
    credentials = mc.users(mc.settings.users, "load")
    sessions = await mc.connect_all(credentials)
    runs = await asyncio.gather(*(session.start_run() for session in sessions))
    await asyncio.gather(
        *(mc.finish(session, [run]) for session, run in zip(sessions, runs, strict=True))
    )
    for session in sessions:
        mc.judge(session)


@pytest.mark.rules("isolation")
async def test_idle_user_receives_nothing_of_another_users_run(mc: Check) -> None:
    credentials = mc.users(2, "idle")
    sessions = await mc.connect_all(credentials)
    if len(sessions) == len(credentials):
        active, _idle = sessions
        run = await active.start_run()
        await mc.finish(active, [run])
    for session in sessions:
        mc.judge(session)
