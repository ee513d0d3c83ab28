"""Routing a connection's messages to its runs, and judging what belongs to no run of its own.

    flat dicts of one connection --Demux.route--> per-run event lists (+ strays, + named others)
    strays / named others --check_foreign--> [Violation]   (isolation, ids)

The per-run rules live in contract.py; this module decides which run (or which other user) a
message belongs to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from contract.rules import (
    NO_RUN,
    Message,
    RuleId,
    RunIds,
    Violation,
    check_run,
    id_mismatches,
    is_event,
    learned_run_id,
    string_field,
    type_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from contract.rules import SchemaCheck


@dataclass
class RunChecker:
    """One run as a connection sees it: the events routed to it so far, in order."""

    expected: RunIds
    events: list[Message] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        return self.expected.run_id or learned_run_id(self.events)

    @property
    def ids(self) -> RunIds:
        return replace(self.expected, run_id=self.run_id)

    @property
    def completed(self) -> bool:
        return any(event.get("type") == "agent_completed" for event in self.events)

    @property
    def seen(self) -> tuple[str, ...]:
        return tuple(type_of(event) for event in self.events)

    def check(
        self,
        *,
        schema_errors: SchemaCheck,
        require: Collection[str] = (),
    ) -> list[Violation]:
        return check_run(self.events, self.expected, schema_errors=schema_errors, require=require)


class Ledger:
    """Every run the suite started, by run_id and thread_id: who owns a message that names one."""

    def __init__(self) -> None:
        self._by_run: dict[str, RunIds] = {}
        self._by_thread: dict[str, RunIds] = {}

    def add(self, ids: RunIds) -> None:
        self._by_thread[ids.thread_id] = ids
        if ids.run_id is not None:
            self._by_run[ids.run_id] = ids

    def find(self, message: Mapping[str, Any], *, by_thread: bool = True) -> RunIds | None:
        run_id = string_field(message, "run_id")
        thread_id = string_field(message, "thread_id")
        if run_id is not None and run_id in self._by_run:
            return self._by_run[run_id]
        if by_thread and thread_id is not None:
            return self._by_thread.get(thread_id)
        return None


def find_owner(message: Mapping[str, Any], ledger: Ledger) -> RunIds | None:
    """The run a message names: by run_id, else (an event, or a message naming no run_id) by
    thread_id."""
    return ledger.find(message, by_thread=is_event(message) or "run_id" not in message)


def names_another_user(receiver: str, message: Mapping[str, Any], ledger: Ledger) -> bool:
    """Whether `message` names a user other than `receiver`, or a run of another user."""
    named_user = string_field(message, "user_id")
    owner = find_owner(message, ledger)
    return (named_user is not None and named_user != receiver) or (
        owner is not None and owner.user_id != receiver
    )


def check_foreign(
    receiver: str, messages: Sequence[Mapping[str, Any]], ledger: Ledger
) -> list[Violation]:
    """Isolation and ids for messages a connection got that name none of its tracked runs.

    Agent events and other types naming a `run_id` alike: each must belong to one of the
    receiver's own runs (from this or an earlier connection) and carry that run's ids.
    """
    per_run: dict[tuple[RuleId, str], list[Mapping[str, Any]]] = {}
    for message in messages:
        owner = find_owner(message, ledger)
        run_id = string_field(message, "run_id") or (owner.run_id if owner else None) or "?"
        if names_another_user(receiver, message, ledger):
            per_run.setdefault(("isolation", run_id), []).append(message)
        elif owner is None or id_mismatches(message, owner, present_only=not is_event(message)):
            per_run.setdefault(("ids", run_id), []).append(message)
    found = []
    for (rule, run_id), got in per_run.items():
        seen = tuple(type_of(m) for m in got)
        if rule == "isolation":
            owners = sorted({str(m.get("user_id", "?")) for m in got})
            detail = (
                f"expected only the receiver's own runs; "
                f"got {len(got)} message(s) of user(s) {owners}"
            )
        else:
            detail = (
                f"expected every message naming a run to name one of the receiver's runs with "
                f"its ids; got {len(got)} naming run_id={run_id!r} thread_id="
                f"{got[0].get('thread_id')!r} user_id={got[0].get('user_id')!r}"
            )
        found.append(Violation(rule, run_id, receiver, detail, seen))
    return found


class Demux:
    """Routes one connection's messages to the runs it started (by run_id, else thread_id)."""

    def __init__(self, user: str, ledger: Ledger) -> None:
        self.user = user
        self.ledger = ledger
        self.runs: list[RunChecker] = []
        self.strays: list[Message] = []  # agent events naming none of the tracked runs
        self.named: list[Message] = []  # other types naming a run or thread (judged at the end)
        self.malformed: list[str] = []  # why frames were not JSON objects with a type

    def track(self, ids: RunIds) -> RunChecker:
        """Expect a run; the ledger learns it too (its run_id later, once agent_started told)."""
        run = RunChecker(ids)
        self.runs.append(run)
        self.ledger.add(ids)
        return run

    def find_run(self, message: Mapping[str, Any]) -> RunChecker | None:
        run_id = string_field(message, "run_id")
        thread_id = string_field(message, "thread_id")
        by_run = [run for run in self.runs if run_id is not None and run.run_id == run_id]
        if by_run:
            return by_run[0]
        by_thread = [run for run in self.runs if run.expected.thread_id == thread_id]
        return by_thread[0] if by_thread else None

    def route(self, message: Message) -> RunChecker | None:
        """File one normalized message; the run it joined, if any."""
        if not is_event(message):
            if "run_id" in message or "thread_id" in message:
                self.named.append(message)
            return None
        run = self.find_run(message)
        if run is None:
            self.strays.append(message)
        else:
            run.events.append(message)
        return run

    def check(
        self,
        *,
        schema_errors: SchemaCheck,
        require: Collection[str] = (),
        judged: Callable[[RunChecker], bool] = lambda _run: True,
        dropped: bool = False,
    ) -> list[Violation]:
        """Every violation on this connection: its judged runs, its strays, its frames.

        `dropped`: the connection was cut mid-run on purpose, so its runs cannot complete;
        every rule but `delivery` still holds for what they sent.
        """
        found: list[Violation] = []
        for run in self.runs:
            self.ledger.add(run.ids)
            if judged(run):
                found += [
                    violation
                    for violation in run.check(schema_errors=schema_errors, require=require)
                    if not (dropped and violation.rule == "delivery")
                ]
        own = {run.run_id: run for run in self.runs if run.run_id is not None}
        foreign: list[Mapping[str, Any]] = list(self.strays)
        for message in self.named:
            if "run_id" not in message:  # a thread alone: judged only when it is another's
                if names_another_user(self.user, message, self.ledger):
                    foreign.append(message)
                continue
            named = own.get(string_field(message, "run_id") or "")
            if named is None or id_mismatches(message, named.ids, present_only=True):
                foreign.append(message)
        found += check_foreign(self.user, foreign, self.ledger)
        if self.malformed:
            counts = dict(Counter(self.malformed))
            found.append(
                Violation(
                    "schema",
                    NO_RUN,
                    self.user,
                    f"expected every frame to be a JSON object with a string type; got {counts}",
                )
            )
        return found
