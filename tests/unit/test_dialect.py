"""Dialects (contract/dialect.py): the shipped ones load, a malformed one names its file and key,
and no key can loosen a rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contract.dialect import DialectError, load_dialect, parse_dialect, shipped_dialects
from contract.layout import LAYOUT
from contract.messages import (
    claim_problems,
    greeting_message,
    minted_claims,
    start_message,
    subprotocol_for,
    token_from_subprotocol,
)
from contract.rules import check_greeting

DOCS = Path(__file__).resolve().parents[2] / "docs"
SSE = "[transport]\nkind = 'sse'\n[auth]\nmethods = ['header']\n"  # an sse dialect's least


def test_the_shipped_dialects_load_and_the_reference_is_the_default() -> None:
    assert shipped_dialects() == ("ag-ui", "netra", "reference")
    reference = load_dialect()
    assert reference.name == "reference"
    assert reference.source == "contract/dialects/reference.toml"
    assert load_dialect("netra").auth_methods == ("header", "subprotocol")
    assert {name: load_dialect(name).transport for name in shipped_dialects()} == {
        "ag-ui": "sse",
        "netra": "websocket",
        "reference": "websocket",
    }


def test_the_ag_ui_dialect_posts_to_the_root_with_a_bearer_token_and_no_health_path() -> None:
    agui = load_dialect("ag-ui")
    assert (agui.name, agui.run_path, agui.health_path, agui.version_key) == ("ag-ui", "/", "", "")
    assert agui.auth_methods == ("header",)
    assert agui.reject_statuses == (401, 403)
    assert agui.claims == {}


def test_a_websocket_dialect_says_nothing_of_the_sse_transport() -> None:
    """The keys the sse transport added mean nothing to the websocket dialects: only `transport`
    (websocket) and `run_path` (the reference default, read by no one) are new."""
    for name in ("reference", "netra"):
        fields = load_dialect(name).__dict__
        assert (fields["transport"], fields["run_path"]) == ("websocket", "/")


def test_a_file_that_states_nothing_is_the_reference() -> None:
    empty = parse_dialect("", "empty.toml")
    reference = load_dialect("reference")
    same = {"source": "", "summary": ""}
    assert empty.__dict__ | same == reference.__dict__ | same


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[dialect\nname = 'x'", "", "not valid TOML"),
        ("[rules]\nisolation = false", "rules", "unknown section"),
        ("[delivery]\nthreshold = 0.6", "delivery", "unknown section"),
        ("[auth]\nskip_rejection = true", "auth.skip_rejection", "unknown key"),
        ("[auth]\nmethods = []", "auth.methods", "must not be empty"),
        ("[auth]\nmethods = ['cookie']", "auth.methods", "'cookie' is not one of"),
        ("[auth]\nmethods = 'header'", "auth.methods", "expected a list"),
        ("[auth.claims]\nsub = 'someone'", "auth.claims", "'sub' is set by the suite"),
        ("[auth.claims]\njti = '{random}'", "auth.claims", "the only placeholders"),
        ("[auth.claims]\nwhen = 1979-05-27", "auth.claims", "is not JSON"),
        ("[rejection]\nstatuses = [200]", "rejection.statuses", "from 400 to 499"),
        ("[rejection]\nclose_code = 'x'", "rejection.close_code", "expected a whole number"),
        ("[endpoints]\nwebsocket_path = 'ws'", "endpoints.websocket_path", "starting with '/'"),
        ("[start_agent]\nrun_id_key = ''\nmatch = 'run_id'", "start_agent.match", "run_id_key"),
        ("[start_agent]\nthreads = 'server'", "start_agent.match", '"order"'),
        ("[start_agent.extra]\nuser_request = 'x'", "start_agent.extra", "set by the suite"),
        ("[user_message]\nmatch = 'telepathy'", "user_message.match", "expected one of"),
        ("[frames]\nmax_size = 1", "frames.max_size", "from 64 to"),
        ("[frames]\nmax_size = true", "frames.max_size", "whole number, got bool"),
        ("[errors]\nunknown_type = 'ignore'", "errors.unknown_type", "expected one of error, ack"),
        ("[errors]\nnot_json = ['A', 'A']", "errors.not_json", "names one value twice"),
        ("[greeting]\nconnection_id = []", "greeting.connection_id", "must not be empty"),
        ("greeting = 'hello'", "greeting", "expected a table"),
        ("[transport]\nkind = 'http2'", "transport.kind", "expected one of websocket, sse"),
        ("[transport]\nrun_path = '/agent'", "transport.run_path", "only the sse transport"),
        ("[endpoints]\nhealth_path = ''", "endpoints.health_path", '"" is for sse dialects'),
        (SSE + "[endpoints]\nwebsocket_path = '/ws'", "endpoints.websocket_path", "websocket"),
        (SSE + "[ping]\ntype = 'ping'", "ping", "only the websocket transport reads it"),
        (SSE + "[frames]\nmax_size = 1024", "frames", "only the websocket transport"),
        (SSE + "[rejection]\nclose_code = 1008", "rejection.close_code", "websocket"),
        (
            "[transport]\nkind = 'sse'\n[auth]\nmethods = ['header', 'query']",
            "auth.methods",
            "'query' is not a way the sse transport takes a token (it takes header)",
        ),
        ("[transport]\nkind = 'sse'", "auth.methods", "'subprotocol' is not a way the sse"),
        (SSE + "[transport.run_path]", "transport.run_path", "expected a string"),
    ],
)
def test_a_malformed_dialect_names_its_file_and_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(DialectError) as caught:
        parse_dialect(text, "teams/x.toml")
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith("dialect teams/x.toml" + (f", key {key}" if key else ""))


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("klingon", "no shipped dialect of that name (shipped: ag-ui, netra, reference)"),
        ("/nonexistent/x.toml", "no such file"),
        ("/", "is a directory"),
    ],
)
def test_a_dialect_that_cannot_be_read_says_why(spec: str, problem: str) -> None:
    with pytest.raises(DialectError, match=re.escape(problem)):
        load_dialect(spec)


def test_a_dialect_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b"[dialect]\nname = 'caf\xe9'\n")
    with pytest.raises(DialectError, match=r"is not UTF-8 text \(line 2, byte 0xe9\)"):
        load_dialect(str(path))


def test_no_key_of_the_layout_can_name_a_threshold_or_switch_a_rule_off() -> None:
    words = {word for section, keys in LAYOUT.items() for key in keys for word in key.split("_")}
    words |= {word for section in LAYOUT for word in section.split("_")}
    loosening = {"threshold", "percent", "ratio", "skip", "disable", "enabled", "allow", "off"}
    loosening |= {"isolation", "delivery", "order", "ids", "strict", "lenient", "optional"}
    assert not words & loosening


def test_every_key_is_explained_in_the_dialect_guide() -> None:
    guide = (DOCS / "dialects.md").read_text("utf-8")
    missing = [
        f"{section}.{key}"
        for section, keys in LAYOUT.items()
        for key in keys
        if f"`{key}`" not in guide
    ]
    assert missing == []


@pytest.mark.parametrize("name", ["reference", "netra"])
def test_requests_and_tokens_round_trip_through_the_dialect(name: str) -> None:
    dialect = load_dialect(name)
    offered = subprotocol_for(dialect, "a.b.c")
    assert offered.startswith(dialect.subprotocol_prefix)
    assert token_from_subprotocol(dialect, offered, (dialect.subprotocol_prefix,)) == "a.b.c"
    claims = minted_claims(dialect, "u1", now=1000.0, expires_in=60)
    assert (claims["sub"], claims["iat"], claims["exp"]) == ("u1", 1000, 1060)
    assert claim_problems(dialect, claims) == []
    greeting = greeting_message(dialect, "c1")
    assert check_greeting(greeting, dialect.greeting_type, dialect.connection_id_paths) is None
    start = start_message(dialect, "start_agent", text="q", thread_id="t", run_id="r")
    payload = start[dialect.payload_key]
    assert payload[dialect.start_agent.text_key] == "q"
    assert ("run_id" in payload) == bool(dialect.start_agent.run_id_key)


def test_netra_tokens_carry_the_auth_services_claims() -> None:
    netra = load_dialect("netra")
    claims = minted_claims(netra, "u1", now=1000.0, expires_in=60)
    assert claims["iss"] == "netra-auth-service"
    assert claims["token_type"] == "access"
    assert isinstance(claims["jti"], str)
    assert claims["jti"] != minted_claims(netra, "u1", now=1000.0, expires_in=60)["jti"]
    assert claim_problems(netra, {"sub": "u1", "iss": "other"}) == [
        "claim 'iss' is wrong",
        "claim 'aud' is missing",
        "claim 'token_type' is missing",
        "claim 'jti' is missing or not a non-empty string",
    ]
