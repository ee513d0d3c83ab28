"""The health endpoint over plain HTTP(S), bounded: a GET that never follows a redirect.

A blocking urllib GET in a daemon thread, abandoned on timeout, so a server that trickles bytes
cannot hold the event loop's shutdown hostage.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HealthAnswer:
    status: int
    body: bytes = field(repr=False)


class KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer (the contract wants 200 from the health path itself)."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def get_url(url: str, context: ssl.SSLContext | None, timeout: float) -> HealthAnswer:
    """A plain GET without proxies or redirects; HTTP error statuses (3xx included) are
    answers, not exceptions."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), KeepRedirects()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=timeout) as response:
            return HealthAnswer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HealthAnswer(exc.code, exc.read())


async def fetch_health(url: str, context: ssl.SSLContext | None, seconds: float) -> HealthAnswer:
    """GET `url` within `seconds` (TimeoutError or OSError otherwise).

    The blocking GET runs in a daemon thread that is abandoned on timeout, so a server that
    trickles bytes cannot hold the event loop's shutdown hostage.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[HealthAnswer] = loop.create_future()

    def deliver(outcome: HealthAnswer | Exception) -> None:
        if answer.done():
            return
        if isinstance(outcome, Exception):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)

    def work() -> None:
        outcome: HealthAnswer | Exception
        try:
            outcome = get_url(url, context, seconds)
        except Exception as exc:
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=work, name="health GET", daemon=True).start()
    async with asyncio.timeout(seconds):
        return await answer
