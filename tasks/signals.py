"""Signals during a gate run: SIGTERM and SIGHUP unwind like Ctrl-C; teardown is not cut short.

Python's default SIGTERM and SIGHUP kill the process without running ``finally`` blocks, which
would leave a stack or a backend process behind. SIGHUP is what a closed terminal or a dropped ssh
session sends. Inside ``terminate_as_interrupt()`` both raise ``Terminated`` (a
``KeyboardInterrupt``) instead, so one unwinding path serves all three. Inside ``shielded()``
(teardown), SIGINT, SIGTERM and SIGHUP are held until the block ends, then delivered as an
interrupt.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

UNWINDING = (signal.SIGTERM, signal.SIGHUP)  # turned into Terminated
HELD = (signal.SIGINT, *UNWINDING)  # held during teardown


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, delivered as an interrupt so every ``finally`` runs."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt_for(signum: int) -> KeyboardInterrupt:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(signal.Signals(signum).name)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise _interrupt_for(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in UNWINDING}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def shielded() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        held.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in HELD}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held:
        raise _interrupt_for(held[0])
