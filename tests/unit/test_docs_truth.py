"""The documents that name settings, commands and the wire contract stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nox
import pytest

from contract.dialect import load_dialect
from contract.rules import EVENT_TYPES, RULE_IDS
from tasks.settings import KEYS, load_settings
from tests.mission_critical import test_connection
from tests.mission_critical.engine.client import RUN_REQUEST
from tests.mission_critical.engine.event_schemas import (
    BASE_SCHEMA,
    EPOCH_SECONDS_BELOW,
    read_schema,
)
from tests.mission_critical.engine.runner import HEAVY, PHASES
from tests.mission_critical.test_auth import BAD_TOKENS
from tests.mission_critical.test_connection import LARGE_REQUEST

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", [".env.example", "docs/settings.md"])
def test_every_setting_is_documented(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = [key for key in KEYS if key not in text]
    assert missing == [], f"{doc} does not mention {missing}"


def test_env_example_parses_as_a_profile(tmp_path: Path) -> None:
    # every line of .env.example must be a valid .env line with a valid value
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    load_settings(tmp_path, environ={})


@pytest.mark.parametrize("profile", [".env.local", ".env.docker", ".env.staging"])
def test_committed_profiles_load(profile: str, tmp_path: Path) -> None:
    (tmp_path / profile).write_text((ROOT / profile).read_text())
    load_settings(tmp_path, environ={})


def test_every_nox_session_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    noxfile = (ROOT / "noxfile.py").read_text()
    named = set(re.findall(r"nox -s ([\w-]+)", readme))
    defined = set(re.findall(r'name="([\w-]+)"', noxfile))
    defined |= set(re.findall(r"@nox\.session(?:\([^)]*\))?\ndef (\w+)", noxfile))
    assert named
    assert named <= defined, f"README names sessions the noxfile lacks: {named - defined}"


# ---- docs/protocol.md: every statement a test can check, checked against the code ----------

PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
FIELD = re.compile(r"`(\w+)` \(([^)]*)\)")


def says(phrase: str, text: str = PROTOCOL) -> bool:
    """Whether `text` holds `phrase`, however its lines are wrapped."""
    return " ".join(phrase.split()) in " ".join(text.split())


def protocol_section(title: str) -> str:
    start = PROTOCOL.index(f"## {title}")
    end = PROTOCOL.find("\n## ", start + 1)
    return PROTOCOL[start : end if end != -1 else None]


def described(schema: dict[str, Any]) -> str:
    """How protocol.md must name a field of this schema."""
    kind = schema.get("type")
    if kind is None:
        return "any JSON"
    if kind == "string":
        return "non-empty string" if schema.get("minLength", 0) >= 1 else "string"
    if kind == "number" and schema.get("minimum") == 0:
        return "number >= 0"
    return str(kind)


def event_row(event_type: str) -> tuple[dict[str, str], dict[str, str]]:
    """The required and the optional fields of a type's row, each with its description."""
    line = next(row for row in PROTOCOL.splitlines() if row.startswith(f"| `{event_type}` |"))
    required, optional = line.split("|")[2:4]
    return dict(FIELD.findall(required)), dict(FIELD.findall(optional))


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_protocol_names_every_field_of_each_event_with_its_type(event_type: str) -> None:
    schema = read_schema(event_type)
    base = read_schema(BASE_SCHEMA)["required"]
    properties = schema["properties"]
    required, optional = event_row(event_type)
    wanted_required = [name for name in schema["required"] if name not in base]
    assert sorted(required) == sorted(wanted_required)
    assert sorted(optional) == sorted(set(properties) - {"type", *wanted_required})
    for name, text in {**required, **optional}.items():
        assert text.startswith(described(properties[name])), (event_type, name, text)


def test_the_protocol_states_the_ids_and_the_timestamp_as_the_schema_does() -> None:
    base = read_schema(BASE_SCHEMA)
    for name in ("run_id", "thread_id", "user_id"):
        assert base["properties"][name] == {"$ref": "#/$defs/id"}
    assert base["$defs"]["id"] == {"type": "string", "minLength": 1}
    assert says("`run_id`, `thread_id` and `user_id` (non-empty strings)")
    number, text = base["properties"]["timestamp"]["oneOf"]
    assert (number["exclusiveMinimum"], number["exclusiveMaximum"]) == (0, EPOCH_SECONDS_BELOW)
    assert EPOCH_SECONDS_BELOW == 1e11
    assert says("epoch **seconds**: a number above 0 and below 1e11")
    assert text["type"] == "string"
    assert says("or an ISO 8601 date-time string")
    assert says("looks like milliseconds")


def test_the_protocol_quotes_the_request_the_suite_sends_and_its_large_size() -> None:
    assert says(f"`{RUN_REQUEST}`")
    assert LARGE_REQUEST == 32 * 1024
    assert says("a request of 32 KiB")
    assert says("all five event types")


def test_the_reference_dialect_demands_all_three_auth_methods() -> None:
    methods = load_dialect("reference").auth_methods
    assert methods == ("header", "subprotocol", "query")
    section = protocol_section("Authentication")
    assert says("must accept **all three**", section)
    for method in methods:
        assert says(f"| {method} |", section)


def test_the_protocol_names_every_token_the_suite_refuses() -> None:
    words = {
        "missing": "missing",
        "malformed": "malformed",
        "forged": "forged",
        "unsigned": "unsigned (`alg: none`)",
        "expired": "expired",
        "no-exp": "no-`exp`",
    }
    assert set(words) == {"missing", *BAD_TOKENS}
    row = next(line for line in PROTOCOL.splitlines() if line.startswith("| `auth` |"))
    for word in words.values():
        assert word in row
    reference = load_dialect("reference")
    assert reference.reject_statuses == (401, 403)
    assert reference.reject_close_code == 1008
    assert not reference.reject_error_frame
    assert says("HTTP `401`/`403` at the handshake or with close code `1008`")
    assert says("with no frame before that close")


def test_the_frame_limit_is_the_contracts_and_mc_max_frame_declares_another() -> None:
    reference = load_dialect("reference")
    assert reference.max_frame == 1_048_576
    assert says("**The frame limit is the contract's, 1 MiB (1,048,576 bytes)**")
    assert says("declares it with `MC_MAX_FRAME`")
    assert says("closes the connection with `1009`")


def test_the_protocol_spells_what_the_reference_dialect_spells() -> None:
    reference = load_dialect("reference")
    assert (reference.websocket_path, reference.health_path) == ("/ws", "/health")
    assert says("| WebSocket | `/ws` |")
    assert says("| HTTP health | `/health` ")
    assert reference.greeting_type == "connection_established"
    assert reference.connection_id_paths[0] == "data.connection_id"
    assert '{"type": "connection_established", "data": {"connection_id": "<string>"}}' in PROTOCOL
    assert (reference.ping_type, reference.pong_type) == ("ping", "pong")
    assert '`{"type": "pong"}` answers `{"type": "ping"}`' in PROTOCOL
    assert reference.not_json_codes == ("JSON_PARSE_ERROR",)
    assert reference.error_type == "error_message"
    assert reference.error_code_key == "error_code"
    assert '{"type": "error_message", "error_code": "<CODE>", "message": "<text>"}' in PROTOCOL
    assert reference.event_containers == ("data",)
    start, message = reference.start_agent, reference.user_message
    assert (start.type, start.text_key, start.thread_key, start.run_id_key) == (
        "start_agent",
        "user_request",
        "thread_id",
        "run_id",
    )
    assert '"payload": {"user_request": str, "thread_id": str, "run_id": str?}' in PROTOCOL
    assert (message.type, message.text_key) == ("user_message", "message")
    assert '"payload": {"message": str, "thread_id": str}' in PROTOCOL


def test_the_rule_table_is_every_rule_the_suite_names() -> None:
    section = protocol_section("Rules of a run")
    listed = re.findall(r"^\| `([a-z-]+)` \|", section, re.MULTILINE)
    assert listed == list(RULE_IDS)


def test_the_protocol_says_what_a_direct_suite_run_installs() -> None:
    section = protocol_section("Running the suite yourself")
    suite = nox.project.dependency_groups(nox.project.load_toml(ROOT / "pyproject.toml"), "suite")
    assert says("the `suite` dependency group", section)
    command = next(line for line in section.splitlines() if 'pip install "' in line)
    assert sorted(re.findall(r'"([^"]+)"', command)) == sorted(suite)
    assert says("python -m pip install --group suite", section)


def test_the_latency_rule_says_the_big_frames_come_after_the_timed_runs() -> None:
    frame_check = test_connection.test_frame_at_the_limit_is_answered_one_byte_more_closes_with_1009
    assert HEAVY in {mark.name for mark in getattr(frame_check, "pytestmark", [])}
    assert PHASES == ("timed", "heavy")  # the heavy phase runs after the timed one
    row = next(line for line in PROTOCOL.splitlines() if line.startswith("| `latency` |"))
    assert says("over every timed run of the suite", row)
    assert says("the frame-size check's big frames are sent after those runs", row)
