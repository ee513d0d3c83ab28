"""The reference backend's fault modes: each changes only what it claims, over real sockets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.integration.refclient import (
    FAST,
    FORGED_SECRET,
    collect_quietly,
    event_types,
    greet,
    make_token,
    open_client,
    read_field,
    recv_json,
    send_start,
)

if TYPE_CHECKING:
    from tests.integration.conftest import ServiceLauncher


CLEAN = ["agent_started", "agent_thinking", "tool_executing", "tool_completed"]
CLEAN += ["agent_thinking", "agent_completed"]
STREAM_FAULTS = {
    "none": CLEAN,
    "drop_completed": CLEAN[:-1],
    "reorder": [CLEAN[1], CLEAN[0], *CLEAN[2:]],
    "duplicate_started": [CLEAN[0], *CLEAN],
    "after_completed": [*CLEAN, "agent_thinking"],
    "orphan_tool_completed": [*CLEAN[:-1], "tool_completed", "agent_completed"],
    "open_tool_call": [*CLEAN[:-1], "tool_executing", "agent_completed"],
    "no_thinking": [t for t in CLEAN if t != "agent_thinking"],
    "wrong_run_id": CLEAN,
    "bad_schema": CLEAN,
    "never_answer": [],
}


async def run_once(ws: ClientConnection) -> list[dict[str, Any]]:
    await greet(ws)
    await send_start(ws, "run-f")
    return await collect_quietly(ws)


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_stream_fault_changes_only_its_events(
    refservice_launcher: ServiceLauncher, fault: str
) -> None:
    service = refservice_launcher.start(*FAST, *(["--fault", fault] if fault != "none" else []))
    async with open_client(service, make_token(service)) as ws:
        events = await run_once(ws)
        await ws.send('{"type": "ping"}')
        assert await recv_json(ws) == {"type": "pong"}
    assert event_types(events) == STREAM_FAULTS[fault]
    run_ids = [read_field(event, "run_id") for event in events]
    wrong = fault == "wrong_run_id"
    assert run_ids == ["run-f"] * len(events) if not wrong else ["run-f"] + ["run-f-x"] * 5
    assert {read_field(event, "user_id") for event in events} <= {"alice"}
    opened = {read_field(e, "execution_id") for e in events if e["type"] == "tool_executing"}
    closed = [e for e in events if e["type"] == "tool_completed"]
    orphans = [read_field(e, "execution_id") not in opened for e in closed]
    assert orphans == ([False, True] if fault == "orphan_tool_completed" else [False] * len(closed))
    assert all(("success" in e) == (fault != "bad_schema") for e in closed)


@pytest.mark.asyncio
async def test_leak_fault_sends_a_run_to_another_user(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start(*FAST, "--fault", "leak")
    async with (
        open_client(service, make_token(service, "alice")) as alice,
        open_client(service, make_token(service, "eve")) as eve,
    ):
        await greet(eve)
        own = await run_once(alice)
        leaked = await collect_quietly(eve)
    assert event_types(own) == CLEAN
    assert leaked == own


@pytest.mark.asyncio
async def test_no_auth_fault_lets_any_token_in(refservice_launcher: ServiceLauncher) -> None:
    service = refservice_launcher.start(*FAST, "--fault", "no_auth")
    forged = make_token(service, "mallory", secret=FORGED_SECRET)
    for token, user in [(None, "anonymous"), (forged, "mallory"), ("junk", "anonymous")]:
        async with open_client(service, token) as ws:
            events = await run_once(ws)
        assert event_types(events) == CLEAN
        assert {read_field(event, "user_id") for event in events} == {user}


@pytest.mark.asyncio
async def test_crash_on_malformed_fault_closes_with_1011(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start("--fault", "crash_on_malformed")
    async with open_client(service, make_token(service)) as ws:
        await greet(ws)
        await ws.send('{"type": "dance"}')
        assert (await recv_json(ws))["error_code"] == "UNKNOWN_MESSAGE_TYPE"
        await ws.send("not json")
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011


@pytest.mark.asyncio
async def test_no_pong_fault_ignores_ping_only(refservice_launcher: ServiceLauncher) -> None:
    service = refservice_launcher.start(*FAST, "--fault", "no_pong")
    async with open_client(service, make_token(service)) as ws:
        await greet(ws)
        await ws.send('{"type": "ping"}')
        assert await collect_quietly(ws) == []
        await send_start(ws, "run-f")
        assert event_types(await collect_quietly(ws)) == CLEAN
