"""The reference backend as a real subprocess, checked over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from contract.dialect import load_dialect
from contract.messages import minted_claims
from refservice import __version__
from tests.integration.refclient import (
    FAST,
    FIVE,
    FORGED_SECRET,
    REPO_ROOT,
    WAIT,
    AuthMethod,
    collect_quietly,
    collect_run,
    event_types,
    greet,
    http_get,
    make_token,
    open_client,
    read_field,
    recv_json,
    send_start,
)

if TYPE_CHECKING:
    from tests.integration.conftest import RunningService, ServiceLauncher


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


def test_two_authorization_headers_get_400_not_a_crash(flat_service: RunningService) -> None:
    """What a URL with user:password@ made the websockets client send (Basic, then Bearer)."""
    token = make_token(flat_service)
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {flat_service.host}:{flat_service.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Authorization: Basic dTpw\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    with socket.create_connection((flat_service.host, flat_service.port), timeout=5) as conn:
        conn.sendall(request.encode())
        answer = conn.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "Authorization header must be sent once" in answer
    log = flat_service.read_stderr()
    assert "Traceback" not in log
    assert token not in log


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


def test_launcher_stops_and_reaps_every_child(refservice_launcher: ServiceLauncher) -> None:
    services = [refservice_launcher.start(), refservice_launcher.start("--shape", "data")]
    refservice_launcher.stop_all()  # what the fixture finalizer runs (it is idempotent)
    assert [service.process.returncode for service in services] == [0, 0]


# ---- the netra dialect, as the service speaks it ----------------------------------------------


def netra_token(service: RunningService, sub: str = "alice") -> str:
    claims = minted_claims(load_dialect("netra"), sub, now=time.time(), expires_in=300)
    assert service.secret is not None
    return jwt.encode(claims, service.secret, algorithm="HS256")


@pytest.mark.asyncio
async def test_netra_refuses_after_accepting_with_auth_failed_then_1008(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start("--dialect", "netra")
    async with open_client(service, make_token(service)) as ws:  # no iss, aud, token_type, jti
        refusal = await recv_json(ws)
        with pytest.raises(ConnectionClosed):
            await recv_json(ws)
    assert (refusal["type"], refusal["error_code"]) == ("error_message", "AUTH_FAILED")
    assert ws.close_code == 1008


@pytest.mark.asyncio
async def test_netra_names_runs_and_threads_itself_and_acks_unknown_types(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start("--dialect", "netra")
    async with open_client(service, netra_token(service)) as ws:
        greeting = await recv_json(ws)
        assert greeting["data"]["connection_id"]
        await ws.send(json.dumps({"type": "mc_no_such_type"}))
        ack = await recv_json(ws)
        assert (ack["type"], ack["received_type"]) == ("ack", "mc_no_such_type")
        threads = set()
        for asked in ("mine-1", "mine-2"):
            payload = {"user_request": "q", "thread_id": asked, "run_id": "ignored"}
            await ws.send(json.dumps({"type": "start_agent", "payload": payload}))
            events = [
                m for m in await collect_quietly(ws) if m["type"].startswith(("agent", "tool"))
            ]
            assert events[-1]["type"] == "agent_completed"
            assert {e["run_id"] for e in events} != {"ignored"}
            threads |= {e["thread_id"] for e in events}
    assert len(threads) == 1  # the user's one thread, whatever thread the request named
    assert threads.isdisjoint({"mine-1", "mine-2"})
