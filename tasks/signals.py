"""Signals during a gate run: SIGTERM unwinds like Ctrl-C, and teardown cannot be cut short.

Python's default SIGTERM kills the process without running ``finally`` blocks, which would leave
a stack or a backend process behind. Inside ``terminate_as_interrupt()`` SIGTERM raises
``KeyboardInterrupt`` instead, so the same unwinding path serves both. Inside ``shielded()``
(teardown), SIGINT and SIGTERM are held until the block ends, then delivered as an interrupt.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt so every ``finally`` runs."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def shielded() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held:
        raise Terminated if held[0] == signal.SIGTERM else KeyboardInterrupt
