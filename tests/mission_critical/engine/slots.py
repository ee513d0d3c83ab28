"""When a run may be asked for: once the connections being opened are open (`Openings`), and,
for dialects that match runs by order (`match = "order"`), one at a time per user (`UserSlots`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


class Openings:
    """The gate's connections being opened (a handshake and its greeting, or a refused-token
    probe to its close): a run is asked for only once none is, so no run whose latency is timed
    waits behind the gate's own burst of connections (every check opens its own at once), and
    its figures are those of a backend whose users are connected."""

    def __init__(self) -> None:
        self._count = 0
        self._none = asyncio.Event()
        self._none.set()

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        """Count one opening in flight while the block runs."""
        self._count += 1
        self._none.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._none.set()

    async def settled(self, seconds: float) -> None:
        """Wait (at most `seconds`) until no opening is in flight."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._none.wait()


class UserSlots:
    """One run at a time per user, for dialects that match runs by order (`match = "order"`).

    A run that misses its first answer or its completion bound gives its user up: delivery is
    already broken, so that user's waiting and later runs no longer wait for each other.
    """

    def __init__(self) -> None:
        self._busy: set[str] = set()
        self._queues: dict[str, list[asyncio.Future[bool]]] = {}
        self._given_up: set[str] = set()

    async def acquire(self, user: str, seconds: float) -> bool:
        """Wait (at most `seconds`) until `user` has no run in flight; whether the slot is now
        held (False: the user was given up, or the wait ran out)."""
        if user in self._given_up:
            return False
        if user not in self._busy:
            self._busy.add(user)
            return True
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(user, [])
        queue.append(turn)
        try:
            async with asyncio.timeout(seconds):
                return await turn
        except TimeoutError:
            queue.remove(turn)
            return False

    def release(self, user: str) -> None:
        """Hand the slot to the next waiting run of `user`, or free it."""
        queue = self._queues.get(user, [])
        while queue:
            turn = queue.pop(0)
            if not turn.done():
                turn.set_result(True)
                return
        self._busy.discard(user)

    def give_up(self, user: str) -> None:
        self._given_up.add(user)
        for turn in self._queues.pop(user, []):
            if not turn.done():
                turn.set_result(False)
        self._busy.discard(user)
