"""The reference backend's pure parts: message parsing, token extraction, the agent plan."""

from __future__ import annotations

import base64
import json
from random import Random
from typing import TYPE_CHECKING

import jwt
import pytest

from contract.dialect import load_dialect
from contract.rules import EVENT_TYPES, RunIds, check_run, normalize
from refservice import faults
from refservice.agent import plan_run
from refservice.auth import AuthError, DuplicateHeaderError, extract_token, verify_token
from refservice.faults import BROKEN_RULE, FAULTS, parse_fault, rewrite_steps, stamp_run_id
from refservice.messages import (
    BadInput,
    Ping,
    StartRun,
    Unknown,
    parse_client_message,
    render_message,
)
from tests.mission_critical.engine.event_schemas import schema_errors

if TYPE_CHECKING:
    from contract.dialect import Dialect

REFERENCE, NETRA = load_dialect("reference"), load_dialect("netra")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "JSON_PARSE_ERROR"),
        ("[1, 2]", "JSON_PARSE_ERROR"),
        (b'{"type": "ping"}', "JSON_PARSE_ERROR"),
        ('{"kind": "ping"}', "VALIDATION_ERROR"),
        ('{"type": "start_agent"}', "VALIDATION_ERROR"),
        ('{"type": "start_agent", "payload": {"user_request": "x"}}', "VALIDATION_ERROR"),
        ('{"type": "user_message", "payload": {"thread_id": "t"}}', "VALIDATION_ERROR"),
        (
            json.dumps(
                {
                    "type": "start_agent",
                    "payload": {"user_request": "x", "thread_id": "t", "run_id": 5},
                }
            ),
            "VALIDATION_ERROR",
        ),
    ],
)
def test_bad_frames_get_their_error_code(frame: str | bytes, code: str) -> None:
    parsed = parse_client_message(frame, REFERENCE)
    assert isinstance(parsed, BadInput)
    assert parsed.code(REFERENCE) == code


def test_good_frames_parse() -> None:
    assert parse_client_message('{"type": "ping"}', REFERENCE) == Ping()
    assert parse_client_message('{"type": "dance"}', REFERENCE) == Unknown("dance")
    start = (
        '{"type": "start_agent", "payload": {"user_request": "q", "thread_id": "t", "run_id": "r"}}'
    )
    assert parse_client_message(start, REFERENCE) == StartRun("q", "t", "r")
    message = '{"type": "user_message", "payload": {"message": "q", "thread_id": "t"}}'
    assert parse_client_message(message, REFERENCE) == StartRun("q", "t", None, "user_message")


def test_netra_frames_parse_its_own_way() -> None:
    start = (
        '{"type": "start_agent", "payload": {"user_request": "q", "thread_id": "t", "run_id": "r"}}'
    )
    assert parse_client_message(start, NETRA) == StartRun("q", "t", None)  # no client run_id
    message = '{"type": "user_message", "payload": {"content": "q", "thread_id": "t"}}'
    assert parse_client_message(message, NETRA) == StartRun("q", "t", None, "user_message")
    wrong_key = '{"type": "user_message", "payload": {"message": "q", "thread_id": "t"}}'
    assert isinstance(parse_client_message(wrong_key, NETRA), BadInput)


def test_render_message_shapes() -> None:
    flat = json.loads(render_message("agent_started", {"run_id": "r"}, "flat"))
    data = json.loads(render_message("agent_started", {"run_id": "r"}, "data"))
    assert flat == {"type": "agent_started", "run_id": "r"}
    assert data == {"type": "agent_started", "data": {"run_id": "r"}}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_token_is_found_in_header_then_subprotocol_then_query() -> None:
    sub = [f"chat, jwt.{_b64('from-sub')}"]
    found = extract_token(["Bearer from-header"], sub, "/ws?token=from-query", REFERENCE)
    assert found is not None
    assert (found.source, found.token) == ("header", "from-header")
    found = extract_token([], sub, "/ws?token=from-query", REFERENCE)
    assert found is not None
    assert (found.source, found.token) == ("subprotocol", "from-sub")
    found = extract_token(["Basic abc"], [], "/ws?token=from-query", REFERENCE)
    assert found is not None
    assert (found.source, found.token) == ("query", "from-query")
    assert extract_token([], [], "/ws", REFERENCE) is None


def test_only_the_dialects_methods_carry_a_token() -> None:
    assert extract_token([], [], "/ws?token=from-query", NETRA) is None  # netra reads no query


def test_two_authorization_headers_are_a_bad_request_not_a_crash() -> None:
    with pytest.raises(DuplicateHeaderError, match="Authorization"):
        extract_token(["Bearer a", "Basic b"], [], "/ws", REFERENCE)


def test_a_broken_subprotocol_token_is_an_auth_error() -> None:
    with pytest.raises(AuthError):
        extract_token([], ["jwt.a"], "/ws", REFERENCE)


def test_a_clean_plan_has_the_five_events_in_contract_order() -> None:
    steps = plan_run("what is up?", 0.01, Random(1))
    types = [s.type for s in steps]
    assert types[0] == "agent_started"
    assert types[-1] == "agent_completed"
    assert "agent_thinking" in types[: types.index("tool_executing")]
    assert types.index("tool_executing") < types.index("tool_completed")
    assert all(s.pause >= 0 for s in steps)


def test_every_fault_parses_and_a_clean_run_is_not_rewritten() -> None:
    steps = plan_run("q", 0.0, Random(2))
    assert rewrite_steps(None, steps) == steps
    assert [parse_fault(name) for name in FAULTS] == list(FAULTS)
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault("gremlins")


# ---- the backend's stream faults, judged by the suite's own contract logic, without sockets ----

STREAM_FAULTS = (
    "drop_completed",
    "reorder",
    "duplicate_started",
    "wrong_run_id",
    "after_completed",
    "orphan_tool_completed",
    "open_tool_call",
    "no_thinking",
    "bad_schema",
)


def _events(fault: str | None) -> list[dict[str, object]]:
    steps = rewrite_steps(parse_fault(fault) if fault else None, plan_run("q", 0.0, Random(3)))
    return [
        normalize(
            json.loads(
                render_message(
                    step.type,
                    {
                        "run_id": stamp_run_id(parse_fault(fault) if fault else None, "r1", step),
                        "thread_id": "t1",
                        "user_id": "u1",
                        "timestamp": 1.0,
                        **step.fields,
                    },
                    "flat",
                )
            )
        )
        for step in steps
    ]


def test_the_clean_stream_keeps_every_rule() -> None:
    ids = RunIds(thread_id="t1", user_id="u1", run_id="r1")
    assert check_run(_events(None), ids, schema_errors=schema_errors, require=EVENT_TYPES) == []


@pytest.mark.parametrize("fault", STREAM_FAULTS)
def test_each_stream_fault_breaks_exactly_its_rule(fault: str) -> None:
    ids = RunIds(thread_id="t1", user_id="u1", run_id="r1")
    found = check_run(_events(fault), ids, schema_errors=schema_errors, require=EVENT_TYPES)
    assert {v.rule for v in found} == {BROKEN_RULE[parse_fault(fault)]}, found


# ---- the faults of the rules added later: what each changes, and nothing else ----


def test_a_token_without_exp_is_refused_unless_the_fault_accepts_it() -> None:
    token = jwt.encode({"sub": "u-1", "iat": 1}, "k" * 40, algorithm="HS256")
    with pytest.raises(AuthError, match="'exp'"):
        verify_token(token, "k" * 40, REFERENCE)
    assert faults.requires_exp(None)
    assert not faults.requires_exp("accept_no_exp")
    assert verify_token(token, "k" * 40, REFERENCE, require_exp=False) == "u-1"


@pytest.mark.parametrize(
    ("fault", "dialect", "refusal"),
    [
        (None, REFERENCE, None),  # HTTP 401 at the handshake
        (None, NETRA, (1, "AUTH_FAILED")),
        ("wrong_auth_code", REFERENCE, (1, faults.WRONG_AUTH_CODE)),
        ("wrong_auth_code", NETRA, (1, faults.WRONG_AUTH_CODE)),
        ("repeat_auth_error", REFERENCE, (2, "AUTH_FAILED")),
        ("repeat_auth_error", NETRA, (2, "AUTH_FAILED")),
    ],
    ids=["reference", "netra", "wrong-code-ref", "wrong-code-netra", "twice-ref", "twice-netra"],
)
def test_a_refusal_is_spelled_by_the_dialect_or_broken_by_its_fault(
    fault: faults.Fault | None, dialect: Dialect, refusal: tuple[int, str] | None
) -> None:
    assert faults.refusal_frames(fault, dialect) == refusal


def test_large_frames_are_dropped_only_under_their_fault() -> None:
    big, small = "x" * (faults.DROPPED_OVER + 1), "x" * faults.DROPPED_OVER
    assert faults.drops_frame("drop_large_frames", big)
    assert not faults.drops_frame("drop_large_frames", small)
    assert not faults.drops_frame(None, big)


def test_events_are_nested_and_stamped_in_ms_only_under_their_faults() -> None:
    assert faults.nested_under("nest_payload") == "payload"
    assert faults.nested_under(None) is None
    assert faults.stamp_time(None, 1700000000.5) == 1700000000.5
    assert faults.stamp_time("epoch_ms_timestamps", 1700000000.5) == 1700000000500.0
