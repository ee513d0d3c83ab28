"""A backend the harness started, probed until it is ready: local (a team's command) and docker.

    plan_readiness(...) -> Plan     the probes' plan for a backend on a local address, with a
                                    freshly minted token and the environment's hints
    wait_ready(look, ...) -> Ready  ``probes.probe_ready`` (what "ready" means for the dialect:
                                    health, then a greeted handshake) tried until it passes

A failure the probes call transient (refused, reset, timed out, 502/503/504, ...) is tried again
after a short pause, doubling from 20 ms to at most 100 ms, so the harness sees a backend ready
within a tenth of a second of it being so; a definitive one (401/403, close 1008, the dialect's
refusal, a wrong greeting) fails at once, naming what came and the keys to check. The whole wait
is bounded; progress is logged every few seconds. ``look`` is the environment's own part: where
the backend is, and whether it has died (a process that exited, a container that stopped),
which fails the wait at once too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from contract.dialect import Dialect
from tasks.environments.failures import Hints
from tasks.environments.probes import Plan, probe_ready
from tasks.environments.tokens import mint_token
from tasks.settings.addresses import host_port
from tasks.settings.errors import GateError

Log = Callable[[str], None]
# Given the bound one try may take: the plan to probe, or why there is nothing to probe yet.
# It raises (the environment's BringUpError) when there never will be: the backend died.
Look = Callable[[float], "Plan | str"]

READY_SUBJECT = "mc-ready"
TOKEN_LIFETIME = 120  # seconds; a token is minted for every try
PROBE_BOUND = 2.0  # seconds one try may take
FIRST_PAUSE = 0.02
MAX_PAUSE = 0.1
PROGRESS_EVERY = 5.0


@dataclass(frozen=True)
class Ready:
    seconds: float  # from the start of the wait
    at: float  # time.time() when the last probe passed
    tries: int
    version: str  # what the health answer said, or ""


def plan_readiness(
    dialect: Dialect,
    *,
    host: str,
    port: int,
    secret: str,
    bound: float,
    hints: Hints,
    health_path: str | None = None,
) -> Plan:
    """The probes' plan for a backend listening on ``host:port`` (plain ws and http)."""
    token = mint_token(secret, READY_SUBJECT, lifetime=TOKEN_LIFETIME, dialect=dialect)
    base = host_port(host, port)
    return Plan(
        ws_url=f"ws://{base}{dialect.websocket_path}",
        http_url=f"http://{base}",
        health_url=f"http://{base}{health_path or dialect.health_path}",
        bound=bound,
        auth=f"HS256 token (sub={READY_SUBJECT})",
        token=token,
        context=None,
        insecure_ok=False,
        secrets=(token, secret),
        hints=hints,
        dialect=dialect,
    )


def wait_ready(
    look: Look, *, timeout: float, log: Log, what: str, fail: Callable[[str], GateError]
) -> Ready:
    """Probe until ready; ``fail(problem)`` is raised on a definitive failure or at the bound.

    ``what`` names the backend in messages (the compose service, "the team's command").
    """
    start = time.monotonic()
    deadline = start + timeout
    next_note = start + PROGRESS_EVERY
    pause, tries = FIRST_PAUSE, 0
    seen = "nothing probed yet"
    while True:
        found = look(max(0.05, min(PROBE_BOUND, deadline - time.monotonic())))
        if isinstance(found, str):
            seen = found
        else:
            tries += 1
            results = probe_ready(found)
            failed = next((r for r in results if r.outcome != "pass"), None)
            if failed is None:
                version = results[0].facts.get("backend_version", "")
                return Ready(time.monotonic() - start, time.time(), tries, version)
            seen = f"{failed.probe}: {failed.detail}"
            if failed.definitive:
                raise fail(f"{what} refused the readiness probe, which will not change: {seen}")
        now = time.monotonic()
        if now >= deadline:
            raise fail(f"{what} not ready within {timeout:g}s (last probe: {seen})")
        if now >= next_note:
            log(f"waiting for {what} ({now - start:.0f}s of {timeout:g}s): {seen}")
            next_note = now + PROGRESS_EVERY
        time.sleep(min(pause, deadline - now))
        pause = min(pause * 2, MAX_PAUSE)
