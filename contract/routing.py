"""Routing a connection's messages to its runs, and judging what belongs to no run of its own.

    messages of one connection, in order (Demux.log) --assign--> per-run events + strays + named
    strays / named others --check_foreign--> [Violation]   (isolation, ids)

How a message finds its run depends on how the dialect matches runs (`Match`):

- `run_id`: the client named the run; an event joins the run whose run_id it carries.
- `thread`: each run has a fresh thread; an event without a known run_id joins it by thread_id.
- `order`: the server names runs (and maybe threads), and a user has one run at a time: the first
  event after a start request whose run_id is nobody's yet is that run's, and teaches its ids.

Who owns a run, and what a message naming another's run means, is `contract.ledger`'s.
Routing happens twice. Live (`route`), so a waiting check knows when its run completed. Then
once more when every connection is done (`settle`), from the whole log: first binding only
events that name the receiver (or no user), so a run another connection owns is known to be
theirs everywhere; then the runs still unbound take the first event of a run nobody owns, whoever
it names (it is their run with the wrong user id: `ids`, not `isolation`). The verdict is the
settled one. The per-run rules live in rules.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from contract.ledger import Ledger, check_foreign, names_another_user
from contract.rules import (
    NO_RUN,
    Message,
    RunIds,
    Violation,
    check_run,
    id_mismatches,
    is_event,
    learned_id,
    string_field,
    type_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from contract.dialect import Match
    from contract.rules import SchemaCheck


@dataclass(frozen=True)
class Entry:
    """One message a connection received: normalized, when (monotonic seconds), and raw."""

    message: Message
    at: float = 0.0
    raw: str = ""


@dataclass(eq=False)
class RunChecker:
    """One run as a connection sees it: how it is matched, and the events routed to it."""

    expected: RunIds
    match: Match = "run_id"
    start_index: int = 0  # messages the connection had received when the request left
    sent_at: float = 0.0
    entries: list[Entry] = field(default_factory=list)
    bound: bool = False  # `order`: an event has claimed this run

    @property
    def events(self) -> list[Message]:
        return [entry.message for entry in self.entries]

    @property
    def run_id(self) -> str | None:
        return self.expected.run_id or learned_id(self.events, "run_id")

    @property
    def thread_id(self) -> str | None:
        return self.expected.thread_id or learned_id(self.events, "thread_id")

    @property
    def ids(self) -> RunIds:
        return replace(self.expected, run_id=self.run_id, thread_id=self.thread_id)

    @property
    def completed(self) -> bool:
        return any(entry.message.get("type") == "agent_completed" for entry in self.entries)

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


MISSING: Any = object()


class Assignment:
    """One pass over a connection's log: which run each event joins (see the module docstring).

    `taken(run_id)`: that run belongs to a run of another connection. `any_user`: an `order` run
    may be claimed by an event naming another user (the second pass, and live); `keep`: runs
    bound by the first pass, by the run_id that bound them, so the second starts from it.
    """

    def __init__(
        self,
        receiver: str,
        runs: Sequence[RunChecker],
        taken: Callable[[str], bool],
        *,
        any_user: bool,
        keep: Mapping[int, str | None] | None = None,
    ) -> None:
        self.receiver = receiver
        self.runs = runs
        self.taken = taken
        self.any_user = any_user
        self.keep = dict(keep or {})
        self.by_run = {r.expected.run_id: r for r in runs if r.expected.run_id is not None}
        self.by_thread = {r.expected.thread_id: r for r in runs if r.expected.thread_id}
        self.bindings: dict[int, str | None] = {}  # id(run) -> the run_id that bound it
        self.position = 0
        for run in runs:
            run.entries = []
            run.bound = False

    def _bind(self, run: RunChecker, message: Mapping[str, Any]) -> RunChecker:
        run.bound = True
        run_id = string_field(message, "run_id")
        self.bindings[id(run)] = run_id
        if run_id is not None:
            self.by_run[run_id] = run
        thread_id = run.expected.thread_id or string_field(message, "thread_id")
        if thread_id is not None:
            self.by_thread.setdefault(thread_id, run)
        return run

    def _claim(self, message: Mapping[str, Any], run_id: str | None) -> RunChecker | None:
        """The `order` run this event (naming no run we know) is the first of, if any."""
        if run_id is not None and self.taken(run_id):
            return None
        user = string_field(message, "user_id")
        for run in self.runs:
            if run.match != "order" or run.bound or run.start_index > self.position:
                continue
            kept = self.keep.get(id(run), MISSING)
            if kept is not MISSING:
                if kept == run_id:
                    return self._bind(run, message)
                continue
            if not self.any_user and user not in {None, self.receiver}:
                return None
            return self._bind(run, message)
        return None

    def place(self, message: Mapping[str, Any]) -> RunChecker | None:
        """The run this event joins: by run_id, else by thread_id (an event naming no run_id,
        or a wrong one on a run the client named), else as the first of an `order` run."""
        run_id = string_field(message, "run_id")
        thread_id = string_field(message, "thread_id") or ""
        if run_id is not None and run_id in self.by_run:
            return self.by_run[run_id]
        if run_id is None and thread_id in self.by_thread:
            return self.by_thread[thread_id]
        claimed = self._claim(message, run_id)
        if claimed is not None:
            return claimed
        by_thread = self.by_thread.get(thread_id)
        return by_thread if by_thread is not None and by_thread.match != "order" else None

    def feed(self, entry: Entry) -> RunChecker | None:
        """File one entry; the run it joined, if any (events only)."""
        run = self.place(entry.message) if is_event(entry.message) else None
        if run is not None:
            run.entries.append(entry)
        self.position += 1
        return run


class Demux:
    """One connection's messages (its log) and the runs it started."""

    def __init__(self, user: str, ledger: Ledger) -> None:
        self.user = user
        self.ledger = ledger
        self.log: list[Entry] = []
        self.runs: list[RunChecker] = []
        self.malformed: list[str] = []  # why frames were not JSON objects with a type
        self.claimed: set[str] = set()  # run ids this connection's runs were ever bound to
        self._live = Assignment(user, [], self.taken, any_user=True)
        self._settled = 0  # passes of `settle` done (2: final)

    def track(self, ids: RunIds, match: Match = "run_id", sent_at: float = 0.0) -> RunChecker:
        """Expect a run whose request is leaving now; the ledger learns it too."""
        run = RunChecker(ids, match, start_index=len(self.log), sent_at=sent_at)
        self.runs.append(run)
        self.ledger.add(ids)
        self._rebuild_live()
        return run

    def _rebuild_live(self) -> None:
        self._live = Assignment(self.user, self.runs, self.taken, any_user=True)
        for entry in self.log:
            self._live.feed(entry)

    def taken(self, run_id: str) -> bool:
        """Whether `run_id` is a run of another connection (as far as the ledger knows)."""
        mine = run_id in self.claimed or any(r.expected.run_id == run_id for r in self.runs)
        return not mine and self.ledger.owner(run_id) is not None

    def route(self, message: Message, at: float = 0.0, raw: str = "") -> RunChecker | None:
        """File one normalized message as it arrives; the run it joined, if any."""
        entry = Entry(message, at, raw)
        self.log.append(entry)
        run = self._live.feed(entry)
        if run is not None and run.match == "order":
            self._learn(run)
        return run

    def _learn(self, run: RunChecker) -> None:
        if run.run_id is not None:
            self.claimed.add(run.run_id)
        self.ledger.add(run.ids, learned=True)

    @property
    def strays(self) -> list[Message]:
        """Agent events that joined none of this connection's runs (as last routed)."""
        joined = {id(entry) for run in self.runs for entry in run.entries}
        return [e.message for e in self.log if is_event(e.message) and id(e) not in joined]

    @property
    def named(self) -> list[Message]:
        """Other messages that name a run or a thread (judged at the end)."""
        return [
            e.message
            for e in self.log
            if not is_event(e.message) and ("run_id" in e.message or "thread_id" in e.message)
        ]

    def settle(self, *, any_user: bool) -> None:
        """Route the whole log again, knowing every run the other connections bound (first with
        `any_user` False, then True); the ledger learns what this connection's runs are."""
        keep = (
            {id(r): self._live.bindings.get(id(r)) for r in self.runs if r.bound}
            if any_user
            else {}
        )
        assignment = Assignment(self.user, self.runs, self.taken, any_user=any_user, keep=keep)
        for entry in self.log:
            assignment.feed(entry)
        self._live = assignment
        for run in self.runs:
            self._learn(run)
        self._settled += 1

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
        if self._settled < 2:
            settle_all([self])
        found: list[Violation] = []
        for run in self.runs:
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


def settle_all(demuxes: Sequence[Demux]) -> None:
    """The final routing of every connection of the suite (both passes, all connections),
    forgetting what live routing guessed."""
    for demux in demuxes:
        demux.ledger.forget_learned()
        demux.claimed.clear()
    for demux in demuxes:
        demux.settle(any_user=False)
    for demux in demuxes:
        demux.settle(any_user=True)
