"""The reference backend in the `ag-ui` dialect, as a real subprocess over real HTTP on
127.0.0.1, read with httpx + httpx-sse and judged by the gate's own AG-UI rules."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from httpx_sse import SSEError, aconnect_sse

from contract.agui.isolation import Tokens
from contract.agui.requests import RunRequest, make_request, run_input
from contract.agui.stream import check_gate_run
from refservice.agui.faults import BROKEN_RULE, STREAM_FAULTS, parse_fault
from tests.integration.conftest import ServiceLauncher
from tests.integration.refclient import FAST, FORGED_SECRET, REPO_ROOT, WAIT, make_token
from tests.mission_critical.engine.agui_events import event_problems
from tests.mission_critical.engine.tokens import unsecured_token

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import RunningService

AGUI = ("--dialect", "ag-ui", *FAST)
HOLDING = {"never_answer", "stall"}
HELD_FOR = 1.0  # seconds a test waits on a stream that never ends before calling it open


@dataclass
class Answer:
    status: int
    content_type: str
    events: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""  # the body of an answer that is not an event stream
    closed: bool = True  # False: still open when the test stopped waiting


def url_of(service: RunningService, path: str = "/") -> str:
    return f"http://{service.host}:{service.port}{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_run(
    service: RunningService,
    request: RunRequest,
    headers: dict[str, str] | list[tuple[str, str]],
    *,
    bound: float = WAIT,
) -> Answer:
    """POST the request's RunAgentInput; the events of the stream, or the body of anything else."""
    body = run_input(request, "what is 2+2")
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT)) as client,
        aconnect_sse(
            client, "POST", url_of(service), json=body, headers=httpx.Headers(headers)
        ) as source,
    ):
        response = source.response
        answer = Answer(response.status_code, response.headers.get("content-type", ""))
        if response.status_code != 200 or "text/event-stream" not in answer.content_type:
            answer.text = (await response.aread()).decode(errors="replace")
            return answer
        try:
            async with asyncio.timeout(bound):
                async for sse in source.aiter_sse():
                    answer.events.append(json.loads(sse.data))
        except TimeoutError:
            answer.closed = False
        return answer


def judge(answer: Answer, request: RunRequest, *others: RunRequest) -> set[str]:
    found = check_gate_run(
        answer.events,
        request,
        Tokens([request, *others]),
        schema_errors=event_problems,
        closed=answer.closed,
    )
    return {violation.rule for violation in found}


async def run_users(
    service: RunningService, users: int, bound: float = WAIT
) -> list[tuple[RunRequest, Answer]]:
    requests = [make_request(f"user-{i}") for i in range(users)]
    answers = await asyncio.gather(
        *(post_run(service, r, bearer(make_token(service, r.user)), bound=bound) for r in requests)
    )
    return list(zip(requests, answers, strict=True))


# -- a clean run, and many at once -----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("shape", ["flat", "chunks"])
async def test_a_run_is_an_event_stream_keeping_every_rule(
    refservice_launcher: ServiceLauncher, shape: str
) -> None:
    service = refservice_launcher.start(*AGUI, "--shape", shape)
    request = make_request("alice")
    answer = await post_run(service, request, bearer(make_token(service, "alice")))
    assert (answer.status, answer.content_type) == (200, "text/event-stream; charset=utf-8")
    assert answer.events[0]["type"] == "RUN_STARTED"
    assert judge(answer, request) == set()
    assert (shape == "chunks") == any(e["type"].endswith("_CHUNK") for e in answer.events)


@pytest.mark.asyncio
async def test_concurrent_users_each_get_only_their_own_run(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start(*AGUI)
    runs = await run_users(service, 25)
    everyone = [request for request, _ in runs]
    assert [judge(answer, request, *everyone) for request, answer in runs] == [set()] * 25


# -- auth ----------------------------------------------------------------------------------------


def token_of(service: RunningService, kind: str) -> list[tuple[str, str]]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "mallory", "iat": now, "exp": now + 300}
    secret = service.secret
    assert secret is not None
    tokens = {
        "forged": jwt.encode(claims, FORGED_SECRET, algorithm="HS256"),
        "unsigned": unsecured_token(claims),
        "expired": jwt.encode({**claims, "exp": now - 60}, secret, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "mallory", "iat": now}, secret, algorithm="HS256"),
        "good": jwt.encode(claims, secret, algorithm="HS256"),
    }
    if kind == "missing":
        return []
    if kind == "malformed":
        return [("Authorization", "Basic dTpw")]
    if kind == "bearer without a token":
        return [("Authorization", "Bearer")]
    if kind == "two headers":
        return [("Authorization", "Basic dTpw"), ("Authorization", f"Bearer {tokens['good']}")]
    return [("Authorization", f"Bearer {tokens[kind]}")]


BAD_TOKENS = [
    "missing",
    "malformed",
    "bearer without a token",
    "forged",
    "unsigned",
    "expired",
    "no exp",
]


@pytest.fixture(scope="module")
def agui_service(module_refservice_launcher: ServiceLauncher) -> RunningService:
    return module_refservice_launcher.start(*AGUI)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_a_bad_token_is_refused_with_401_before_any_event(
    agui_service: RunningService, kind: str
) -> None:
    headers = token_of(agui_service, kind)
    answer = await post_run(agui_service, make_request("mallory"), headers)
    assert (answer.status, answer.events) == (401, [])
    assert "data:" not in answer.text
    log = agui_service.read_stderr()
    assert "Traceback" not in log
    presented = [value.partition(" ")[2] for _, value in headers]
    assert not [token for token in presented if token and token in log]


@pytest.mark.asyncio
async def test_two_authorization_headers_get_400(agui_service: RunningService) -> None:
    answer = await post_run(agui_service, make_request("u"), token_of(agui_service, "two headers"))
    assert answer.status == 400
    assert "must be sent once" in answer.text


# -- bad requests, other paths, health ----------------------------------------------------------


def post_raw(
    service: RunningService,
    content: bytes,
    content_type: str,
    method: str = "POST",
    path: str = "/",
) -> httpx.Response:
    headers = {"Content-Type": content_type, **bearer(make_token(service, "u"))}
    with httpx.Client(timeout=WAIT) as client:
        return client.request(method, url_of(service, path), content=content, headers=headers)


GOOD_BODY = json.dumps(run_input(make_request("u"), "hi")).encode()
BAD_REQUESTS = [
    ("not JSON", b"this is not json", "application/json", "POST", "/", 400),
    ("a JSON array", b"[1, 2]", "application/json", "POST", "/", 400),
    (
        "no runId",
        json.dumps({**json.loads(GOOD_BODY), "runId": None}).encode(),
        "application/json",
        "POST",
        "/",
        422,
    ),
    (
        "no messages",
        json.dumps({"threadId": "t", "runId": "r"}).encode(),
        "application/json",
        "POST",
        "/",
        422,
    ),
    ("not application/json", GOOD_BODY, "text/plain", "POST", "/", 415),
    ("over 1 MiB", b" " * (1 << 20) + b"{}", "application/json", "POST", "/", 413),
    ("GET the run path", b"", "application/json", "GET", "/", 405),
    ("another path", GOOD_BODY, "application/json", "POST", "/nowhere", 404),
    ("no health path", b"", "application/json", "GET", "/health", 404),
]


@pytest.mark.parametrize(
    ("body", "content_type", "method", "path", "status"),
    [row[1:] for row in BAD_REQUESTS],
    ids=[row[0] for row in BAD_REQUESTS],
)
def test_a_bad_request_gets_its_4xx(
    agui_service: RunningService,
    body: bytes,
    content_type: str,
    method: str,
    path: str,
    status: int,
) -> None:
    response = post_raw(agui_service, body, content_type, method, path)
    assert response.status_code == status
    assert "data:" not in response.text


@pytest.mark.asyncio
async def test_the_service_keeps_serving_after_bad_requests(agui_service: RunningService) -> None:
    for _, body, content_type, method, path, _status in BAD_REQUESTS:
        post_raw(agui_service, body, content_type, method, path)
    request = make_request("after")
    answer = await post_run(agui_service, request, bearer(make_token(agui_service, "after")))
    assert judge(answer, request) == set()
    assert "Traceback" not in agui_service.read_stderr()


@pytest.mark.parametrize(("fault", "status"), [(None, 200), ("health_fail", 500)])
def test_health_answers_where_a_path_is_given(
    refservice_launcher: ServiceLauncher, fault: str | None, status: int
) -> None:
    service = refservice_launcher.start(
        *AGUI, "--health-path", "/healthz", *(("--fault", fault) if fault else ())
    )
    with httpx.Client(timeout=WAIT) as client:
        response = client.get(url_of(service, "/healthz"))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    if status == 200:
        assert response.json() == {"status": "ok", "service": "refservice"}


# -- the process ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_ends_open_streams_and_exits_0(
    refservice_launcher: ServiceLauncher, signum: signal.Signals
) -> None:
    service = refservice_launcher.start(*AGUI, "--fault", "never_answer")
    request = make_request("u")
    reading = asyncio.create_task(post_run(service, request, bearer(make_token(service, "u"))))
    await asyncio.sleep(0.3)  # the stream is open: the fault holds it (nothing to wait on)
    sent_at = time.monotonic()
    service.process.send_signal(signum)
    assert await asyncio.to_thread(service.process.wait, 3) == 0
    assert time.monotonic() - sent_at < 2
    answer = await reading
    assert (answer.status, answer.events, answer.closed) == (200, [], True)
    assert service.process.stdout is not None
    assert service.process.stdout.read() == b""  # nothing after the READY line


SIGNAL_BEFORE_SERVING = """
import asyncio, os, runpy, signal, sys
serve = asyncio.run
def signalled_first(main):
    os.kill(os.getpid(), signal.SIGTERM)  # after READY, before uvicorn takes the signals
    return serve(main)
asyncio.run = signalled_first
sys.argv = ["refservice", "--dialect", "ag-ui", "--port", "0"]
runpy.run_module("refservice", run_name="__main__")
"""


def test_a_signal_between_ready_and_serving_stops_it_too() -> None:
    done = run_python("-c", SIGNAL_BEFORE_SERVING)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("READY ")


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """`python *args` in the checkout, with only PATH and a secret in its environment."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "REFSERVICE_JWT_SECRET": "s" * 40},
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=False,
    )


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_python("-m", "refservice", "--port", "0", *args)


OPTION_MISMATCHES = [
    (("--dialect", "ag-ui", "--fault", "drop_completed"), "not a fault of the sse transport"),
    (("--dialect", "ag-ui", "--shape", "data"), "--shape data: the sse transport sends"),
    (("--dialect", "ag-ui", "--ws-path", "/ws"), "--ws-path: the sse transport has no WebSocket"),
    (("--dialect", "ag-ui", "--shape", "chunks", "--fault", "open_message"), "use --shape flat"),
    (("--fault", "stall"), "not a fault of the websocket transport"),
    (("--run-path", "/run"), "--run-path: the websocket transport has no run path"),
    (("--shape", "chunks"), "--shape chunks: the reference dialect reads event fields at data"),
]


@pytest.mark.parametrize(
    ("args", "says"), OPTION_MISMATCHES, ids=[" ".join(a) for a, _ in OPTION_MISMATCHES]
)
def test_options_of_the_other_transport_exit_2_with_one_line(
    args: tuple[str, ...], says: str
) -> None:
    done = run_cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("refservice: error: ")
    assert says in line


def test_only_the_ag_ui_dialect_imports_uvicorn() -> None:
    code = "import sys, refservice.__main__; print('uvicorn' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=True,
    )
    assert done.stdout.strip() == "False"


# -- the faults, over the wire -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningService]]:
    """A service per stream fault, started at once (each its own launcher, log and secret)."""
    launchers = {fault: ServiceLauncher(tmp_path_factory.mktemp(fault)) for fault in STREAM_FAULTS}
    try:
        with ThreadPoolExecutor(len(launchers)) as pool:
            jobs = {f: pool.submit(run.start, *AGUI, "--fault", f) for f, run in launchers.items()}
            services = {str(fault): job.result() for fault, job in jobs.items()}
        yield services
    finally:
        with ThreadPoolExecutor(len(launchers)) as pool:
            list(pool.map(ServiceLauncher.stop_all, launchers.values()))


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_each_stream_fault_breaks_exactly_its_rule_on_the_wire(
    fault_services: dict[str, RunningService], fault: str
) -> None:
    service = fault_services[fault]
    runs = await run_users(service, 3, bound=HELD_FOR if fault in HOLDING else WAIT)
    everyone = [request for request, _ in runs]
    broken = [judge(answer, request, *everyone) for request, answer in runs]
    assert set().union(*broken) == {BROKEN_RULE[parse_fault(fault)]}, broken


@pytest.mark.asyncio
async def test_auth_faults_let_a_bad_token_through(refservice_launcher: ServiceLauncher) -> None:
    for fault, kind in [
        ("no_auth", "missing"),
        ("accept_unsigned", "unsigned"),
        ("accept_no_exp", "no exp"),
    ]:
        service = refservice_launcher.start(*AGUI, "--fault", fault)
        answer = await post_run(service, make_request("m"), token_of(service, kind))
        assert answer.status == 200, fault
        assert answer.events[-1]["type"] == "RUN_FINISHED"
        refused = await post_run(service, make_request("m"), token_of(service, "forged"))
        assert refused.status == (200 if fault == "no_auth" else 401), fault


@pytest.mark.asyncio
async def test_refuse_in_stream_answers_a_bad_token_with_an_event(
    refservice_launcher: ServiceLauncher,
) -> None:
    service = refservice_launcher.start(*AGUI, "--fault", "refuse_in_stream")
    answer = await post_run(service, make_request("m"), token_of(service, "expired"))
    assert answer.status == 200
    assert [event["type"] for event in answer.events] == ["RUN_ERROR"]


@pytest.mark.parametrize(
    ("fault", "body", "status"),
    [
        ("crash_on_malformed", b"not json", 500),
        ("run_without_run_id", json.dumps({"threadId": "t", "messages": []}).encode(), 200),
    ],
)
def test_bad_input_faults(
    refservice_launcher: ServiceLauncher, fault: str, body: bytes, status: int
) -> None:
    service = refservice_launcher.start(*AGUI, "--fault", fault)
    assert post_raw(service, body, "application/json").status_code == status


@pytest.mark.asyncio
async def test_not_event_stream_answers_json_lines(refservice_launcher: ServiceLauncher) -> None:
    service = refservice_launcher.start(*AGUI, "--fault", "not_event_stream")
    answer = await post_run(service, make_request("u"), bearer(make_token(service, "u")))
    assert (answer.status, answer.content_type) == (200, "application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert (lines[0]["type"], lines[-1]["type"]) == ("RUN_STARTED", "RUN_FINISHED")
    async with (
        httpx.AsyncClient(timeout=WAIT) as client,
        aconnect_sse(
            client,
            "POST",
            url_of(service),
            json=run_input(make_request("u"), "x"),
            headers=bearer(make_token(service, "u")),
        ) as source,
    ):
        with pytest.raises(SSEError, match="application/x-ndjson"):
            await anext(source.aiter_sse())
