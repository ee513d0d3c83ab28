"""Routing messages to runs (contract/routing.py), above all for dialects whose server names the
runs (`match = "order"`): every case a backend that is right or wrong in one way."""

from __future__ import annotations

from typing import Any

import pytest

from contract.ledger import Ledger
from contract.routing import Demux, settle_all
from contract.rules import RunIds, check_run, normalize
from tests.mission_critical.engine.event_schemas import schema_errors
from tests.unit.wire_events import CLEAN, OTHER, USER, event

MINE = RunIds(thread_id=None, user_id=USER)  # what the suite knows of an order run up front
SERVER = RunIds(thread_id="thread_srv", user_id=USER, run_id="run_1")  # what the server made
THEIRS = RunIds(thread_id="thread_b", user_id=OTHER, run_id="run_b")


def events(ids: RunIds, types: tuple[str, ...] = CLEAN, **changes: Any) -> list[dict[str, Any]]:
    return [normalize(event(t, ids, **changes)) for t in types]


def rules_of(*demuxes: Demux) -> set[str]:
    settle_all(demuxes)
    return {v.rule for d in demuxes for v in d.check(schema_errors=schema_errors)}


def order_demux(ledger: Ledger | None = None, user: str = USER) -> Demux:
    demux = Demux(user, ledger or Ledger())
    demux.track(RunIds(thread_id=None, user_id=user), "order")
    return demux


def test_an_order_run_learns_its_ids_from_its_first_event() -> None:
    demux = order_demux()
    for message in events(SERVER):
        demux.route(message)
    (run,) = demux.runs
    assert run.completed
    assert (run.run_id, run.thread_id) == ("run_1", "thread_srv")
    assert rules_of(demux) == set()


def test_runs_one_after_another_on_the_servers_one_thread_each_get_their_own() -> None:
    demux = order_demux()
    for message in events(SERVER):
        demux.route(message)
    demux.track(RunIds(thread_id=None, user_id=USER), "order")
    for message in events(RunIds("thread_srv", USER, "run_2")):
        demux.route(message)
    assert [r.run_id for r in demux.runs] == ["run_1", "run_2"]
    assert rules_of(demux) == set()


@pytest.mark.parametrize(
    ("name", "messages", "rules"),
    [
        ("reorder", [events(SERVER)[1], events(SERVER)[0], *events(SERVER)[2:]], {"started-first"}),
        (
            "wrong-run-id",
            [events(SERVER)[0], *events(SERVER, run_id="run_1-x")[1:]],
            {"ids", "delivery"},
        ),
        ("wrong-user-on-my-run", events(SERVER, user_id=f"{USER}-via-subprotocol"), {"ids"}),
        ("null-thread", events(SERVER, thread_id=None), {"schema", "ids"}),
        ("late-event", [*events(SERVER), events(SERVER)[1]], {"completed-last"}),
    ],
)
def test_an_order_run_that_breaks_one_rule_is_named_by_that_rule(
    name: str, messages: list[dict[str, Any]], rules: set[str]
) -> None:
    demux = order_demux()
    for message in messages:
        demux.route(message)
    assert rules_of(demux) == rules, name


def test_another_users_event_arriving_first_is_isolation_not_the_claim_of_my_run() -> None:
    ledger = Ledger()
    mine, theirs = order_demux(ledger), order_demux(ledger, OTHER)
    leaked = events(THEIRS)[0]
    mine.route(leaked)  # before its owner even saw it
    for message in events(THEIRS):
        theirs.route(message)
    for message in events(SERVER):
        mine.route(message)
    assert rules_of(mine, theirs) == {"isolation"}
    assert mine.runs[0].run_id == "run_1"


def test_my_own_earlier_run_seen_on_a_new_connection_is_no_violation() -> None:
    ledger = Ledger()
    first, second = order_demux(ledger), order_demux(ledger)
    first.route(events(SERVER)[0])  # then the connection dropped
    for message in events(SERVER)[1:3]:
        second.route(message)  # the old run's tail, sent to the user's new connection
    for message in events(RunIds("thread_srv", USER, "run_2")):
        second.route(message)
    settle_all([first, second])
    assert {v.rule for v in first.check(schema_errors=schema_errors, dropped=True)} == set()
    assert {v.rule for v in second.check(schema_errors=schema_errors)} == set()
    assert second.runs[0].run_id == "run_2"


def test_a_tool_completed_must_name_the_tool_its_execution_id_opened() -> None:
    run = events(SERVER)
    run[3] = normalize(event("tool_completed", SERVER, tool_name="another_tool"))
    (violation,) = check_run(run, SERVER, schema_errors=schema_errors)
    assert violation.rule == "tool-pairing"
    assert "opened as search" in violation.detail
    assert violation.marks == (3,)


def test_violations_mark_the_offending_events() -> None:
    run = [*events(SERVER), events(SERVER)[1]]
    (violation,) = check_run(run, SERVER, schema_errors=schema_errors)
    assert (violation.rule, violation.marks) == ("completed-last", (len(run) - 1,))
    assert "marks" not in str(violation)
