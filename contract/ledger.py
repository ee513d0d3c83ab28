"""Who owns a run: every run the suite started, and what a message naming another's run means.

    RunIds of every request (and ids a server chose, as learned) --Ledger--> owner of a message
    messages a connection got that name none of its runs --check_foreign--> [Violation]
                                                                        (isolation, ids)

A message that names another user, or a run of another user, is a leak (`isolation`); one that
names a run of nobody's, or the receiver's own run with the wrong ids, breaks `ids`. Routing
(`contract.routing`) asks the ledger which runs are taken; the per-run rules live in rules.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contract.rules import RuleId, RunIds, Violation, id_mismatches, is_event, string_field, type_of
from contract.visible import show

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class Ledger:
    """Every run the suite started, by run_id and thread_id: who owns a message that names one.

    What the suite chose itself (a run_id, a thread_id) is known from the start; what a server
    chose is learned as its events arrive, and learned again when routing settles.
    """

    def __init__(self) -> None:
        self._by_run: dict[str, RunIds] = {}
        self._by_thread: dict[str, RunIds] = {}
        self._learned_runs: dict[str, RunIds] = {}
        self._learned_threads: dict[str, RunIds] = {}

    def add(self, ids: RunIds, *, learned: bool = False) -> None:
        runs, threads = (
            (self._learned_runs, self._learned_threads)
            if learned
            else (self._by_run, self._by_thread)
        )
        if ids.thread_id is not None:
            threads.setdefault(ids.thread_id, ids)
        if ids.run_id is not None:
            runs[ids.run_id] = ids

    def forget_learned(self) -> None:
        self._learned_runs.clear()
        self._learned_threads.clear()

    def owner(self, run_id: str) -> RunIds | None:
        return self._by_run.get(run_id) or self._learned_runs.get(run_id)

    def find(self, message: Mapping[str, Any], *, by_thread: bool = True) -> RunIds | None:
        run_id = string_field(message, "run_id")
        thread_id = string_field(message, "thread_id")
        if run_id is not None and (owner := self.owner(run_id)) is not None:
            return owner
        if by_thread and thread_id is not None:
            return self._by_thread.get(thread_id) or self._learned_threads.get(thread_id)
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
            owners = sorted({show(m.get("user_id", "?")) for m in got})
            detail = (
                f"expected only the receiver's own runs; "
                f"got {len(got)} message(s) of user(s) {', '.join(owners)}"
            )
        else:
            detail = (
                f"expected every message naming a run to name one of the receiver's runs with "
                f"its ids; got {len(got)} naming run_id={show(run_id)} thread_id="
                f"{show(got[0].get('thread_id'))} user_id={show(got[0].get('user_id'))}"
            )
        found.append(Violation(rule, run_id, receiver, detail, seen))
    return found
