"""The concurrent runner: every selected check's scenario at once, one verdict per pytest item.

    selected items (after -k/-m) --Runner.run--> an Outcome per item
        1. reachability: one bounded handshake; when nothing answers, every check fails with
           the reason (rule `reachable`) and no scenario starts
        2. the phases, one after another (PHASES); in each, its scenarios start at once
           (MC_CONCURRENCY at a time), each with its own `Check` and deadline:
           - `timed`: every check whose runs the latency figures are made of
           - `heavy`: the checks marked `heavy`, which load the backend with the gate's own
             probes (frames of the size limit): they must not overlap the runs being timed
        3. every connection stays open, and read, until the last scenario ended and MC_GRACE
           passed since the last agent_completed: a late event breaks completed-last whenever
           it comes, and every connection sees everyone else's traffic
        4. all connections close; routing settles across all of them; the latency of every
           run of the timed phase is figured once; each check's deferred judgements run; the
           data file is written (report_data.py)

Bounded: a check's deadline is MC_RUN_TIMEOUT from its start, and every wait of it (connects,
answers, whole runs, several runs one after another) ends by then; a later phase runs within
the deadline of the phases before it, or PHASE_FLOOR seconds when they used it up. So, checks
all at once, whatever the backend does, the suite takes at most MC_RUN_TIMEOUT + PHASE_FLOOR +
MC_GRACE and the closing handshakes.

A scenario is the check's own `async def test_...(mc: Check, ...)` function: pytest collects it,
the runner calls it, and `conftest.pytest_pyfunc_call` turns its Outcome into the item's verdict.
The suite's wall time is its slowest scenario's, not the sum of all.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import TYPE_CHECKING, Any, Literal, get_args

from contract.ledger import Ledger
from contract.routing import settle_all
from contract.rules import NO_RUN, Violation

from .check import Check, Outcome
from .client import ContractError
from .environment import AuthLimitError, redact_url
from .latency import RunFigures, run_figures, summarize_all
from .slots import Openings, UserSlots
from .sockets import Endpoint, HandshakeError, make_ssl_context, open_socket

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import pytest

    from contract.rules import Metric

    from .client import Session
    from .environment import Settings

    Scenario = Callable[..., Awaitable[None]]

NOT_REPORTED = "not reported"  # the backend version when /health names none
Phase = Literal["timed", "heavy"]
PHASES: tuple[Phase, ...] = get_args(Phase)  # in the order they run
HEAVY = "heavy"  # the marker of a check that belongs to the heavy phase
PHASE_FLOOR = 3.0  # seconds a later phase gets when the phases before it used up their deadline
SCENARIO_SLACK = 2.0  # seconds a scenario may run past its deadline before it is cut
NOT_FINISHED = (
    "expected the check to finish by its deadline ({seconds:g} s after its start, "
    "MC_RUN_TIMEOUT); it was cut off"
)


def phase_of(item: pytest.Item) -> Phase:
    return "heavy" if item.get_closest_marker(HEAVY) is not None else "timed"


class Runner:
    """Runs the scenarios of the selected items, once, and keeps their outcomes."""

    def __init__(self, settings: Settings, items: Sequence[pytest.Function]) -> None:
        self.settings = settings
        self.items = list(items)
        self.endpoint = Endpoint(
            ws_url=settings.ws_url,
            ssl_context=make_ssl_context(settings.ws_url, settings.ca_bundle),
            timeout=settings.timeout,
            run_timeout=settings.run_timeout,
            max_frame=settings.max_frame,
            dialect=settings.dialect,
        )
        self.ledger = Ledger()
        self.slots = UserSlots()
        self.openings = Openings()  # handshakes in flight: runs wait until there are none
        self.sessions: list[Session] = []
        self.checks = {item.nodeid: Check(self, item.nodeid, phase_of(item)) for item in self.items}
        self.judged: set[str] = set()
        self.tokens: set[str] = set()  # every token handed out: reports scrub them
        self.outcomes: dict[str, Outcome] | None = None
        self.backend_version = NOT_REPORTED
        self.record_property: Callable[[str, object], None] = lambda _name, _value: None
        self.started_at = 0.0
        self.wall = 0.0
        self.deadline = 0.0  # the latest deadline of any check so far (monotonic seconds)
        self.figures: list[RunFigures] = []  # every timed run's latency, once routing settled
        self.latency: dict[Metric, dict[str, float | int | None]] = summarize_all([])

    def outcome(self, nodeid: str) -> Outcome:
        """The outcome of one item (the first call runs every scenario)."""
        if self.outcomes is None:
            self.outcomes = asyncio.run(self.run())
        return self.outcomes[nodeid]

    async def run(self) -> dict[str, Outcome]:
        self.started_at = time.time()
        began = time.monotonic()
        unreachable = await self.probe_reachable()
        if unreachable is not None:
            outcomes = {nodeid: Outcome([unreachable], judged=True) for nodeid in self.checks}
        else:
            outcomes = await self.run_phases()
        self.wall = time.monotonic() - began
        return outcomes

    async def probe_reachable(self) -> Violation | None:
        """One bounded handshake with a valid token: a `reachable` violation when no HTTP answer
        came (any answer, even a refusal, lets the checks judge what it is)."""
        try:
            (user,) = self.settings.tokens.users(1, "reach")
        except AuthLimitError:
            return None
        method = self.settings.dialect.auth_methods[0]
        try:
            ws = await open_socket(self.endpoint, user.token, method)
        except HandshakeError as exc:
            if exc.status is not None:
                return None
            where = redact_url(self.settings.ws_url)
            detail = f"expected {where} to answer a WebSocket handshake; {exc}"
            return Violation("reachable", NO_RUN, "-", detail)
        ws.transport.abort()
        return None

    async def run_phases(self) -> dict[str, Outcome]:
        """Each phase's scenarios at once, the phases one after another; then listen out, close,
        settle, figure the timed runs' latency and judge."""
        limit = self.settings.concurrency or len(self.items) or 1
        gate = asyncio.Semaphore(limit)
        found: dict[str, Outcome] = {}
        for phase in PHASES:
            items = [item for item in self.items if phase_of(item) == phase]
            floor = time.monotonic() + PHASE_FLOOR if phase != PHASES[0] else None
            outcomes = await asyncio.gather(*(self.run_one(item, gate, floor) for item in items))
            found.update({item.nodeid: o for item, o in zip(items, outcomes, strict=True)})
        await self.listen_out()
        await asyncio.gather(*(session.close() for session in self.sessions))
        settle_all([session.demux for session in self.sessions])
        self.figures = [
            run_figures(check.nodeid, run)
            for check in self.checks.values()
            if check.phase == "timed"
            for session in check.sessions
            for run in session.demux.runs
        ]
        self.latency = summarize_all(self.figures)
        for item in self.items:
            check, outcome = self.checks[item.nodeid], found[item.nodeid]
            if outcome.skipped is None and outcome.crashed is None:
                outcome.violations += check.verdict()
                outcome.judged = item.nodeid in self.judged
                outcome.context = "\n".join(describe() for describe in check.contexts[:3])
        return {item.nodeid: found[item.nodeid] for item in self.items}

    def start_check(self, item: pytest.Function, floor: float | None) -> Check:
        """The item's check, its deadline set from now: MC_RUN_TIMEOUT from its start, and in a
        later phase no later than the phases before it ended theirs (or `floor`)."""
        check = self.checks[item.nodeid]
        own = time.monotonic() + self.settings.run_timeout
        check.deadline = own if floor is None else min(own, max(self.deadline, floor))
        self.deadline = max(self.deadline, check.deadline)
        return check

    async def run_one(
        self, item: pytest.Function, gate: asyncio.Semaphore, floor: float | None
    ) -> Outcome:
        scenario: Scenario = item.function
        params: dict[str, Any] = dict(item.callspec.params) if hasattr(item, "callspec") else {}
        async with gate:
            began = time.monotonic()
            check = self.start_check(item, floor)
            outcome = Outcome()
            try:
                async with asyncio.timeout(check.deadline - began + SCENARIO_SLACK):
                    await scenario(mc=check, **params)
            except ContractError as exc:
                check.add(exc.violations)
            except AuthLimitError as exc:
                outcome.skipped = str(exc)
            except TimeoutError:
                detail = NOT_FINISHED.format(seconds=check.deadline - began)
                check.add([Violation("delivery", NO_RUN, "-", detail)])
            except Exception as exc:  # a bug of the check itself: say so, scrubbed
                outcome.crashed = self.scrub(f"the check crashed: {exc.__class__.__name__}: {exc}")
            outcome.seconds = time.monotonic() - began
        return outcome

    async def listen_out(self) -> None:
        """Keep every connection open MC_GRACE past the last agent_completed any of them saw."""
        completions = [
            entry.at
            for session in self.sessions
            for entry in session.demux.log
            if entry.message.get("type") == "agent_completed"
        ]
        if completions and self.settings.grace > 0:
            left = max(completions) + self.settings.grace - time.monotonic()
            if left > 0:
                await asyncio.sleep(left)  # a late event can only be waited for, not awaited

    def record_version(self, version: str) -> None:
        """The backend's version from /health: for the terminal summary and the JUnit report."""
        self.backend_version = version
        self.record_property("backend_version", version)

    def scrub(self, text: str) -> str:
        secret = self.settings.tokens.secret
        for value in sorted({*self.tokens, *([secret] if secret else [])}, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


def check_signature(item: pytest.Function) -> str | None:
    """Why `item` cannot be run as a scenario (its function must be `async def f(mc, ...)` whose
    other arguments are all parametrized), or None."""
    function = item.function
    if not inspect.iscoroutinefunction(function):
        return f"{item.nodeid}: a check of the suite must be `async def test_...(mc, ...)`"
    names = list(inspect.signature(function).parameters)
    params = set(item.callspec.params) if hasattr(item, "callspec") else set()
    extra = [name for name in names if name != "mc" and name not in params]
    if "mc" not in names or extra:
        return f"{item.nodeid}: a check takes `mc` and its parameters only, not {extra or names}"
    return None
