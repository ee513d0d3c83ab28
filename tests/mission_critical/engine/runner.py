"""The concurrent runner: every selected check's scenario at once, one verdict per pytest item.

    selected items (after -k/-m) --Runner.run--> an Outcome per item
        1. reachability: one bounded handshake; when nothing answers, every check fails with
           the reason (rule `reachable`) and no scenario starts
        2. every scenario starts at once (MC_CONCURRENCY at a time) with its own `Check`
        3. every connection stays open, and read, until the last scenario ended and MC_GRACE
           passed since the last agent_completed: a late event breaks completed-last whenever
           it comes, and every connection sees everyone else's traffic
        4. all connections close; routing settles across all of them; every run's latency is
           figured once; each check's deferred judgements run; the data file is written
           (report_data.py)

A scenario is the check's own `async def test_...(mc: Check, ...)` function: pytest collects it,
the runner calls it, and `conftest.pytest_pyfunc_call` turns its Outcome into the item's verdict.
The suite's wall time is its slowest scenario's, not the sum of all.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract.ledger import Ledger
from contract.routing import RunChecker, settle_all
from contract.rules import EVENT_TYPES, NO_RUN, Violation

from .client import ContractError, Session, UserSlots
from .environment import AuthLimitError, Credential, redact_url
from .event_schemas import schema_errors
from .latency import RunFigures, run_figures, summarize_all
from .sockets import Endpoint, HandshakeError, make_ssl_context, open_socket

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Sequence

    import pytest

    from contract.dialect import AuthMethod
    from contract.rules import RuleId

    from .environment import Metric, Settings

    Scenario = Callable[..., Awaitable[None]]
    Judgement = Callable[[], list[Violation]]

SCENARIO_SLACK = 5.0  # seconds a scenario may take beyond its waits' bounds before it is cut
NOT_FINISHED = "expected the check to finish within its bound ({seconds:g} s); it was cut off"


@dataclass
class Outcome:
    """What one check's scenario came to."""

    violations: list[Violation] = field(default_factory=list)
    skipped: str | None = None
    crashed: str | None = None  # an exception the scenario did not expect: the suite's bug
    judged: bool = False  # the scenario reached a verdict (a judgement or a violation)
    seconds: float = 0.0
    context: str = ""


class Check:
    """What a scenario gets: the target, test users, connections that stay open until the end,
    and a verdict made of violations found now and judgements made once everything settled."""

    def __init__(self, runner: Runner, nodeid: str) -> None:
        self.runner = runner
        self.nodeid = nodeid
        self.settings = runner.settings
        self.endpoint = runner.endpoint
        self.dialect = runner.settings.dialect
        self.ledger = runner.ledger
        self.sessions: list[Session] = []
        self.found: list[Violation] = []
        self.judgements: list[Judgement] = []
        self.contexts: list[Callable[[], str]] = []

    def users(self, count: int, tag: str) -> tuple[Credential, ...]:
        """`count` distinct users (AuthLimitError, which skips the check, when they cannot be)."""
        credentials = self.settings.tokens.users(count, tag)
        self.runner.tokens.update(c.token for c in credentials)
        return credentials

    def token(self, made: str) -> str:
        """Remember a token the scenario made (forged, expired...), so reports scrub it."""
        self.runner.tokens.add(made)
        return made

    async def connect(
        self, user: Credential, *, method: AuthMethod = "header", rule: RuleId = "delivery"
    ) -> Session:
        """A greeted connection that stays open until the suite ends (ContractError if not)."""
        session = await Session.open(
            self.endpoint,
            user.user,
            user.token,
            self.ledger,
            self.runner.slots,
            method=method,
            rule=rule,
        )
        self.sessions.append(session)
        self.runner.sessions.append(session)
        return session

    async def connect_all(self, users: Sequence[Credential]) -> list[Session]:
        """A connection per user, opened at once; what failed to open is a violation."""
        results = await asyncio.gather(*(self.connect(u) for u in users), return_exceptions=True)
        sessions = []
        for user, result in zip(users, results, strict=True):
            if isinstance(result, Session):
                sessions.append(result)
            elif isinstance(result, ContractError):
                self.add(result.violations)
            elif isinstance(result, Exception):
                detail = f"expected a connection; {result.__class__.__name__}: {result}"
                self.add([Violation("delivery", NO_RUN, user.user, detail)])
            else:
                raise result
        return sessions

    async def finish(self, session: Session, runs: Sequence[RunChecker]) -> bool:
        """Wait (bounded) until the runs are answered and complete; what they missed counts."""
        missed = await session.finish_runs(runs)
        self.add(missed)
        return not missed

    def add(self, violations: Sequence[Violation]) -> None:
        self.found += violations
        self.runner.judged.add(self.nodeid)

    def broken(self, rule: RuleId, user: str, detail: str, seen: Sequence[str] = ()) -> None:
        self.add([Violation(rule, NO_RUN, user, detail, tuple(seen))])

    def judge(
        self,
        session: Session,
        *,
        require: Collection[str] = EVENT_TYPES,
        dropped: bool = False,
        judged: Callable[[RunChecker], bool] = lambda _run: True,
    ) -> None:
        """Judge what `session` received, once every connection has closed and settled."""
        self.judgements.append(
            lambda: session.demux.check(
                schema_errors=schema_errors, require=require, dropped=dropped, judged=judged
            )
        )
        self.contexts.append(session.describe)
        self.runner.judged.add(self.nodeid)

    def judge_later(self, judgement: Judgement) -> None:
        self.judgements.append(judgement)
        self.runner.judged.add(self.nodeid)

    def verdict(self) -> list[Violation]:
        found = list(self.found)
        for judgement in self.judgements:
            found += judgement()
        return found


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
        self.sessions: list[Session] = []
        self.checks = {item.nodeid: Check(self, item.nodeid) for item in self.items}
        self.judged: set[str] = set()
        self.tokens: set[str] = set()  # every token handed out: reports scrub them
        self.outcomes: dict[str, Outcome] | None = None
        self.backend_version = "not reported"
        self.record_property: Callable[[str, object], None] = lambda _name, _value: None
        self.started_at = 0.0
        self.wall = 0.0
        self.scenario_bound = 2 * settings.run_timeout + 8 * settings.timeout + SCENARIO_SLACK
        self.figures: list[RunFigures] = []  # every run's latency, once routing has settled
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
            outcomes = await self.run_scenarios()
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

    async def run_scenarios(self) -> dict[str, Outcome]:
        limit = self.settings.concurrency or len(self.items) or 1
        gate = asyncio.Semaphore(limit)
        outcomes = await asyncio.gather(*(self.run_one(item, gate) for item in self.items))
        await self.listen_out()
        await asyncio.gather(*(session.close() for session in self.sessions))
        settle_all([session.demux for session in self.sessions])
        self.figures = [
            run_figures(check.nodeid, run)
            for check in self.checks.values()
            for session in check.sessions
            for run in session.demux.runs
        ]
        self.latency = summarize_all(self.figures)
        for item, outcome in zip(self.items, outcomes, strict=True):
            check = self.checks[item.nodeid]
            if outcome.skipped is None and outcome.crashed is None:
                outcome.violations += check.verdict()
                outcome.judged = item.nodeid in self.judged
                outcome.context = "\n".join(describe() for describe in check.contexts[:3])
        return {item.nodeid: o for item, o in zip(self.items, outcomes, strict=True)}

    async def run_one(self, item: pytest.Function, gate: asyncio.Semaphore) -> Outcome:
        check = self.checks[item.nodeid]
        scenario: Scenario = item.function
        params: dict[str, Any] = dict(item.callspec.params) if hasattr(item, "callspec") else {}
        async with gate:
            began = time.monotonic()
            outcome = Outcome()
            try:
                async with asyncio.timeout(self.scenario_bound):
                    await scenario(mc=check, **params)
            except ContractError as exc:
                check.add(exc.violations)
            except AuthLimitError as exc:
                outcome.skipped = str(exc)
            except TimeoutError:
                detail = NOT_FINISHED.format(seconds=self.scenario_bound)
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
