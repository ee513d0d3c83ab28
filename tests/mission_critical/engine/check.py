"""What a check's scenario gets (`Check`) and what it came to (`Outcome`).

A `Check` is the scenario's handle on the run: the target, test users, connections that stay
open until the suite ends, and a verdict made of violations found now and judgements made once
every connection has settled. The runner (runner.py) makes one per selected pytest item.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from contract.rules import EVENT_TYPES, NO_RUN, Violation

from .client import ContractError, Session
from .event_schemas import schema_errors
from .sockets import EDGE_HINT

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

    from contract.dialect import AuthMethod
    from contract.routing import RunChecker
    from contract.rules import RuleId

    from .environment import Credential
    from .runner import Phase, Runner

    Judgement = Callable[[], list[Violation]]


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
    and a verdict made of violations found now and judgements made once everything settled.

    `deadline` (monotonic seconds, set by the runner as the scenario starts) ends every wait of
    the check's connections: several waits, or several runs, one after another share it.
    """

    def __init__(self, runner: Runner, nodeid: str, phase: Phase = "timed") -> None:
        self.runner = runner
        self.nodeid = nodeid
        self.phase = phase
        self.deadline = float("inf")
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
            deadline=self.deadline,
            openings=self.runner.openings,
        )
        self.sessions.append(session)
        self.runner.sessions.append(session)
        return session

    async def connect_all(self, users: Sequence[Credential]) -> list[Session]:
        """A connection per user, opened at once; what failed to open is a violation. Refusals
        by the deployment's edge (429, 502-504) are one violation per answer, with their count:
        `handshake refused with HTTP 429 (rate limited; Retry-After 10) for 1 of 25 users`."""
        results = await asyncio.gather(*(self.connect(u) for u in users), return_exceptions=True)
        sessions = []
        refused: dict[str, list[str]] = {}  # the refusal, as said -> the users it refused
        for user, result in zip(users, results, strict=True):
            if isinstance(result, Session):
                sessions.append(result)
            elif isinstance(result, ContractError) and result.refused is not None:
                refused.setdefault(result.refused.refusal(), []).append(user.user)
            elif isinstance(result, ContractError):
                self.add(result.violations)
            elif isinstance(result, Exception):
                detail = f"expected a connection; {result.__class__.__name__}: {result}"
                self.add([Violation("delivery", NO_RUN, user.user, detail)])
            else:
                raise result
        for refusal, whom in refused.items():
            detail = f"{refusal} for {len(whom)} of {len(users)} users; {EDGE_HINT}"
            self.broken("delivery", whom[0], detail)
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
