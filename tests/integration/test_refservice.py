"""The reference backend as a real subprocess, checked over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from refservice import __version__

if TYPE_CHECKING:
    from tests.integration.conftest import RunningService, ServiceLauncher

AuthMethod = Literal["header", "subprotocol", "query", "none"]
FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed")
WAIT = 5.0  # bound on any single network wait
QUIET = 0.4  # a window with no message; >= 25 x the longest pause at --delay 0.01
FAST = ("--delay", "0.01")
REPO_ROOT = Path(__file__).resolve().parents[2]
FORGED_SECRET = "not-the-secret-" + "x" * 32


def make_token(
    service: RunningService, sub: str = "alice", ttl: float = 300, secret: str | None = None
) -> str:
    key = secret or service.secret
    assert key is not None
    return jwt.encode({"sub": sub, "exp": int(time.time() + ttl)}, key, algorithm="HS256")


def open_client(
    service: RunningService, token: str | None, method: AuthMethod = "header"
) -> connect:
    url, headers = service.ws_url, {}
    subprotocols: list[Subprotocol] | None = None
    if method == "header" and token is not None:
        headers["Authorization"] = f"Bearer {token}"
    elif method == "subprotocol" and token is not None:
        encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        subprotocols = [Subprotocol(f"jwt.{encoded}")]
    elif method == "query" and token is not None:
        url += f"?token={token}"
    return connect(
        url,
        additional_headers=headers,
        subprotocols=subprotocols,
        open_timeout=WAIT,
        close_timeout=1,
    )


async def recv_json(ws: ClientConnection, bound: float = WAIT) -> dict[str, Any]:
    async with asyncio.timeout(bound):
        message = json.loads(await ws.recv())
    assert isinstance(message, dict)
    return message


async def greet(ws: ClientConnection) -> str:
    greeting = await recv_json(ws)
    assert greeting["type"] == "connection_established"
    connection_id = greeting["data"]["connection_id"]
    assert isinstance(connection_id, str)
    return connection_id


async def send_start(ws: ClientConnection, run_id: str, thread_id: str = "t-1") -> None:
    payload = {"user_request": "find the weather", "thread_id": thread_id, "run_id": run_id}
    await ws.send(json.dumps({"type": "start_agent", "payload": payload}))


async def collect_quietly(ws: ClientConnection, quiet: float = QUIET) -> list[dict[str, Any]]:
    """Every message until none arrives for `quiet` seconds (bounded by 10 s overall)."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while True:
            try:
                messages.append(await recv_json(ws, quiet))
            except TimeoutError:
                return messages


async def collect_run(ws: ClientConnection, run_id: str) -> list[dict[str, Any]]:
    """The events of `run_id` up to agent_completed, then any stragglers in a quiet window."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while not events or events[-1]["type"] != "agent_completed":
            message = await recv_json(ws)
            if read_field(message, "run_id") == run_id:
                events.append(message)
    return events + await collect_quietly(ws)


def read_field(message: dict[str, Any], key: str) -> Any:
    """Top level wins; else inside `data` (the contract's flat or data shape)."""
    if key in message:
        return message[key]
    data = message.get("data")
    return data.get(key) if isinstance(data, dict) else None


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def http_get(service: RunningService, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(service.host, service.port, timeout=WAIT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def flat_service(module_refservice_launcher: ServiceLauncher) -> RunningService:
    return module_refservice_launcher.start(*FAST, "--shape", "flat")


@pytest.fixture(scope="module")
def data_service(module_refservice_launcher: ServiceLauncher) -> RunningService:
    return module_refservice_launcher.start(*FAST, "--shape", "data")


# -- process, READY, health --------------------------------------------------------------


def test_ready_line_reports_bound_port_and_listening_time(
    refservice_launcher: ServiceLauncher,
) -> None:
    before = time.time()
    service = refservice_launcher.start()
    assert service.ready_line == (
        f"READY host=127.0.0.1 port={service.port} listening_at={service.listening_at:.6f}"
    )
    assert 0 < service.port < 65536
    assert before <= service.listening_at <= time.time()


def test_missing_secret_exits_2_with_one_line() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "refservice", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "refservice: error: REFSERVICE_JWT_SECRET is not set (the HS256 secret)"
    ]


def test_health_answers_json_with_version(flat_service: RunningService) -> None:
    status, content_type, body = http_get(flat_service, "/health")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"status": "ok", "service": "refservice", "version": __version__}


def test_unknown_path_answers_404(flat_service: RunningService) -> None:
    assert http_get(flat_service, "/nowhere")[0] == 404


def test_health_fail_answers_500(refservice_launcher: ServiceLauncher) -> None:
    service = refservice_launcher.start("--fault", "health_fail")
    assert http_get(service, "/health")[0] == 500


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_connections_1001_and_exits_0(
    refservice_launcher: ServiceLauncher, signum: signal.Signals
) -> None:
    service = refservice_launcher.start()
    async with open_client(service, make_token(service)) as ws:
        await greet(ws)
        sent_at = time.monotonic()
        service.process.send_signal(signum)
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
    assert await asyncio.to_thread(service.process.wait, 2) == 0
    assert time.monotonic() - sent_at < 2
    assert service.process.stdout is not None
    assert service.process.stdout.read() == b""  # nothing after the READY line


# -- authentication ------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["header", "subprotocol", "query"])
async def test_each_auth_method_is_accepted(
    flat_service: RunningService, method: AuthMethod
) -> None:
    token = make_token(flat_service, sub=f"user-{method}")
    async with open_client(flat_service, token, method) as ws:
        if method == "subprotocol":
            assert ws.subprotocol is not None
            assert ws.subprotocol.startswith("jwt.")
        await greet(ws)
        await send_start(ws, f"run-{method}")
        events = await collect_run(ws, f"run-{method}")
    assert {read_field(event, "user_id") for event in events} == {f"user-{method}"}


def make_bad_token(service: RunningService, kind: str) -> str | None:
    """A token the service must refuse: missing, forged, expired, malformed, or without exp."""
    if kind == "missing":
        return None
    if kind == "forged":
        return make_token(service, secret=FORGED_SECRET)
    if kind == "expired":
        return make_token(service, ttl=-60)
    if kind == "no_exp":
        assert service.secret is not None
        return jwt.encode({"sub": "alice"}, service.secret, algorithm="HS256")
    return "not.a.jwt"


BAD_TOKEN_KINDS = ["missing", "forged", "expired", "malformed", "no_exp"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", BAD_TOKEN_KINDS)
@pytest.mark.parametrize("method", ["header", "subprotocol", "query"])
async def test_bad_token_is_rejected_with_401(
    flat_service: RunningService, kind: str, method: AuthMethod
) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        async with open_client(flat_service, make_bad_token(flat_service, kind), method):
            pass
    assert rejected.value.response.status_code == 401


@pytest.mark.asyncio
async def test_logs_never_show_token_or_secret(refservice_launcher: ServiceLauncher) -> None:
    service = refservice_launcher.start("--log-level", "debug")
    token, forged = make_token(service), make_token(service, secret=FORGED_SECRET)
    async with open_client(service, token, "query") as ws:
        await greet(ws)
    with pytest.raises(InvalidStatus):
        async with open_client(service, forged, "header"):
            pass
    service.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(service.process.wait, 2) == 0
    log = service.read_stderr()
    assert "connection open" in log
    assert "401" in log
    assert token not in log
    assert forged not in log
    assert service.secret is not None
    assert service.secret not in log


# -- runs ----------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", ["flat", "data"])
async def test_clean_run_delivers_five_events_in_order(
    flat_service: RunningService, data_service: RunningService, shape: str
) -> None:
    service = flat_service if shape == "flat" else data_service
    async with open_client(service, make_token(service, "bob")) as ws:
        await greet(ws)
        await send_start(ws, "run-clean", thread_id="thread-9")
        events = await collect_run(ws, "run-clean")
    types = event_types(events)
    assert types[0] == "agent_started"
    assert types.count("agent_started") == types.count("agent_completed") == 1
    assert types[-1] == "agent_completed"
    assert [t for t in FIVE if t in types] == list(FIVE)
    assert types.index("agent_thinking") < types.index("tool_executing")
    executing = next(e for e in events if e["type"] == "tool_executing")
    completed = next(e for e in events if e["type"] == "tool_completed")
    assert read_field(executing, "execution_id") == read_field(completed, "execution_id")
    assert read_field(completed, "success") is True
    for event in events:
        if shape == "data":
            assert set(event) == {"type", "data"}
        fields = event if shape == "flat" else event["data"]
        assert "data" not in fields
        assert fields["run_id"] == "run-clean"
        assert fields["thread_id"] == "thread-9"
        assert fields["user_id"] == "bob"
        assert isinstance(fields["timestamp"], float)


@pytest.mark.asyncio
async def test_user_message_and_concurrent_runs(flat_service: RunningService) -> None:
    async with open_client(flat_service, make_token(flat_service)) as ws:
        await greet(ws)
        payload = {"message": "hello", "thread_id": "t-um"}
        await ws.send(json.dumps({"type": "user_message", "payload": payload}))
        await send_start(ws, "run-a")
        await send_start(ws, "run-b")
        messages = await collect_quietly(ws)
    by_run: dict[str, list[str]] = {}
    for message in messages:
        by_run.setdefault(read_field(message, "run_id"), []).append(message["type"])
    assert len(by_run) == 3
    assert {"run-a", "run-b"} <= set(by_run)
    for types in by_run.values():
        assert types[0] == "agent_started"
        assert types[-1] == "agent_completed"


@pytest.mark.asyncio
async def test_ping_and_bad_input_keep_connection_usable(flat_service: RunningService) -> None:
    frames = {
        "not json": "JSON_PARSE_ERROR",
        "[1, 2]": "JSON_PARSE_ERROR",
        '{"type": "dance"}': "UNKNOWN_MESSAGE_TYPE",
        '{"type": "start_agent", "payload": {"thread_id": "t"}}': "VALIDATION_ERROR",
        '{"type": "user_message", "payload": "hi"}': "VALIDATION_ERROR",
    }
    async with open_client(flat_service, make_token(flat_service)) as ws:
        await greet(ws)
        for frame, code in frames.items():
            await ws.send(frame)
            reply = await recv_json(ws)
            assert (reply["type"], reply["error_code"]) == ("error_message", code), frame
            await ws.send('{"type": "ping"}')
            assert await recv_json(ws) == {"type": "pong"}


@pytest.mark.asyncio
async def test_oversized_frame_closes_with_1009(flat_service: RunningService) -> None:
    async with open_client(flat_service, make_token(flat_service)) as ws:
        await greet(ws)
        await ws.send("x" * (2**20 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


@pytest.mark.asyncio
async def test_users_are_isolated(flat_service: RunningService) -> None:
    async with (
        open_client(flat_service, make_token(flat_service, "alice")) as alice,
        open_client(flat_service, make_token(flat_service, "eve")) as eve,
    ):
        await greet(alice)
        await greet(eve)
        await send_start(alice, "run-private")
        await collect_run(alice, "run-private")
        assert await collect_quietly(eve) == []


# -- fault modes: each changes the one behaviour it claims ------------------------------

CLEAN = ["agent_started", "agent_thinking", "tool_executing", "tool_completed"]
CLEAN += ["agent_thinking", "agent_completed"]
STREAM_FAULTS = {
    "none": CLEAN,
    "drop_completed": CLEAN[:-1],
    "reorder": [CLEAN[1], CLEAN[0], *CLEAN[2:]],
    "duplicate_started": [CLEAN[0], *CLEAN],
    "after_completed": [*CLEAN, "agent_thinking"],
    "orphan_tool_completed": [*CLEAN[:-1], "tool_completed", "agent_completed"],
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


def test_launcher_stops_and_reaps_every_child(refservice_launcher: ServiceLauncher) -> None:
    services = [refservice_launcher.start(), refservice_launcher.start("--shape", "data")]
    refservice_launcher.stop_all()  # what the fixture finalizer runs (it is idempotent)
    assert [service.process.returncode for service in services] == [0, 0]
