"""Backends that broke the contract and still passed the suite: each test pins the check that
now catches one (the attacks of the red-team review; the socket-level ones are fault modes of
the reference backend, proven by tests/integration/test_selftest.py)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from contract.dialect import load_dialect
from contract.ledger import Ledger
from contract.routing import Demux
from contract.rules import FrameError, RunIds, check_run, normalize, parse_frame
from tests.mission_critical.engine.environment import MIN_FRAME
from tests.mission_critical.engine.event_schemas import schema_errors
from tests.mission_critical.engine.health import fetch_health
from tests.mission_critical.engine.sockets import padded_ping
from tests.mission_critical.engine.tokens import unsecured_token
from tests.mission_critical.test_connection import bad_frames, judge_error_code
from tests.unit.wire_events import CLEAN, IDS, OTHER, USER, event

if TYPE_CHECKING:
    from collections.abc import Iterator

OTHERS = RunIds(thread_id="thread-b", user_id=OTHER, run_id="run-b")


def rules_of(demux: Demux, **kwargs: Any) -> set[str]:
    return {violation.rule for violation in demux.check(schema_errors=schema_errors, **kwargs)}


# --- a frame Python's json reads but JSON does not have -------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    frame = json.dumps(event("tool_completed")).replace(
        '"duration": 0.01', f'"duration": {constant}'
    )
    assert constant in frame
    with pytest.raises(FrameError, match=f"{constant} is not a JSON value"):
        parse_frame(frame)


# --- a tool call that never completes ---------------------------------------------------------


def test_a_tool_executing_left_open_at_agent_completed_breaks_tool_pairing() -> None:
    second = event("tool_executing", tool_name="other", execution_id="e2")
    events = [event(t) for t in CLEAN]
    events.insert(-1, second)
    (violation,) = check_run(events, IDS, schema_errors=schema_errors)
    assert violation.rule == "tool-pairing"
    assert "execution_id=e2) is still open at agent_completed" in violation.detail


def test_an_open_tool_of_a_run_that_never_completed_is_delivery_only() -> None:
    events = [event(t) for t in CLEAN[:3]]
    assert {v.rule for v in check_run(events, IDS, schema_errors=schema_errors)} == {"delivery"}


# --- other message types that name another user's thread --------------------------------------


def demux_with_run() -> Demux:
    ledger = Ledger()
    ledger.add(OTHERS)
    demux = Demux(USER, ledger)
    demux.track(IDS)
    for event_type in CLEAN:
        demux.route(normalize(event(event_type)))
    return demux


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ({"type": "progress", "thread_id": "thread-b"}, {"isolation"}),
        ({"type": "progress", "data": {"thread_id": "thread-b", "note": "x"}}, {"isolation"}),
        ({"type": "progress", "thread_id": "thread-9", "user_id": OTHER}, {"isolation"}),
        ({"type": "progress", "thread_id": "thread-1", "user_id": USER}, set()),
        ({"type": "progress", "thread_id": "thread-9"}, set()),  # a thread nobody started
    ],
    ids=["other-thread", "other-thread-data", "other-user", "own-thread", "unknown-thread"],
)
def test_a_message_naming_only_a_thread_is_judged_for_isolation(
    message: dict[str, Any], found: set[str]
) -> None:
    demux = demux_with_run()
    demux.route(normalize(message))
    assert rules_of(demux) == found


# --- a connection dropped on purpose mid-run --------------------------------------------------


def test_a_dropped_connection_is_judged_by_every_rule_but_delivery() -> None:
    demux = Demux(USER, Ledger())
    demux.track(IDS)
    demux.route(normalize(event("agent_started", user_id="somebody-else")))
    assert rules_of(demux, dropped=True) == {"ids"}
    clean = Demux(USER, Ledger())
    clean.track(IDS)
    clean.route(normalize(event("agent_started")))
    assert rules_of(clean, dropped=True) == set()
    assert rules_of(clean) == {"delivery"}


# --- bad input: an answer repeated for one frame must not stand in for the next -------------


JSON_PARSE_ERROR = "JSON_PARSE_ERROR"
PARSE_CODES = frozenset({JSON_PARSE_ERROR})


@pytest.mark.parametrize("dialect", ["reference", "netra"])
def test_bad_frames_alternate_parse_errors_and_json_frames(dialect: str) -> None:
    kinds = [kind for _what, kind, _frame in bad_frames(load_dialect(dialect), "t")]
    was_json = [kind in {"unknown_type", "missing_field"} for kind in kinds]
    assert all(a != b for a, b in itertools.pairwise(was_json)), kinds


@pytest.mark.parametrize(
    ("got", "allowed", "was_json", "ok"),
    [
        (JSON_PARSE_ERROR, (JSON_PARSE_ERROR,), False, True),
        ("UNKNOWN_MESSAGE_TYPE", (), True, True),
        (JSON_PARSE_ERROR, (), True, False),  # the frame was JSON
        ("", (), True, False),
        (None, (), False, False),
        ("VALIDATION_ERROR", (JSON_PARSE_ERROR,), False, False),
        ("ANY_CODE", (), False, True),  # a dialect that fixes no code for a non-JSON frame
    ],
)
def test_an_error_code_of_its_own_is_not_a_parse_error(
    got: object, allowed: tuple[str, ...], was_json: bool, ok: bool
) -> None:
    assert judge_error_code(got, allowed, PARSE_CODES, was_json=was_json) is ok


# --- frame size and tokens --------------------------------------------------------------------


@pytest.mark.parametrize("size", [MIN_FRAME, 1000, 2**20])
def test_the_frame_at_the_limit_is_exactly_the_limit(size: int) -> None:
    frame = padded_ping(size)
    assert len(frame.encode()) == size
    assert parse_frame(frame)["type"] == "ping"


def test_the_unsigned_token_says_alg_none_and_carries_no_signature() -> None:
    header, claims, signature = unsecured_token({"sub": USER, "exp": 60}).split(".")

    def decode(part: str) -> Any:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    assert decode(header)["alg"] == "none"
    assert decode(claims)["sub"] == USER
    assert signature == ""


# --- health: a redirect is not a 200 ----------------------------------------------------------


class Redirecting(BaseHTTPRequestHandler):
    """/health redirects to /elsewhere, which answers 200 with a JSON object."""

    def do_GET(self) -> None:
        if self.path == "/health":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.asyncio
async def test_a_health_path_that_redirects_is_answered_by_its_redirect(
    redirecting_server: str,
) -> None:
    answer = await fetch_health(f"{redirecting_server}/health", None, 5.0)
    assert answer.status == 302
    elsewhere = await fetch_health(f"{redirecting_server}/elsewhere", None, 5.0)
    assert elsewhere.status == 200
