"""ag-ui-validate 0.4.0's public conformance corpus (its package's spec/fixtures), judged by the
gate's rules and the engine's shape check: every valid stream passes, every invalid one within
the gate's scope fails naming exactly the rule the table maps it to, and every other one is
listed with the reason (docs/dialects/ag-ui.md shows the same table; a test keeps them equal).

The corpus is read from the installed package's files; nothing of ag-ui-validate runs (its
pytest plugin is off: `-p no:ag_ui_validate` in pyproject.toml).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from contract.agui.events import TERMINALS
from contract.agui.requests import RunRequest
from contract.agui.stream import check_stream
from tests.mission_critical.engine.agui_events import event_problems

SPEC = importlib.util.find_spec("ag_ui_validate")
assert SPEC is not None, "ag-ui-validate is not installed (the agui-test dependency group)"
assert SPEC.origin is not None
FIXTURES = Path(SPEC.origin).parent / "spec" / "fixtures"
DOC = Path(__file__).resolve().parents[2] / "docs" / "dialects" / "ag-ui.md"

STATE = "applying state patches: shared state is the app's data, not the run's delivery"
SECOND_HALF = "second half"
# fixture -> the gate rule it must fail, or (OUT_OF_SCOPE | SECOND_HALF, why)
OUT_OF_SCOPE = "out of scope"
TABLE: dict[str, str | tuple[str, str]] = {
    "AGUI001": "run-started",
    "AGUI002": "run-started",
    "AGUI003": "run-terminal",
    "AGUI004": "run-terminal",
    "AGUI005": "run-terminal",
    "AGUI006": "steps",
    "AGUI007": "steps",
    "AGUI008": "run-ids",
    "AGUI101": "text-messages",
    "AGUI102": "text-messages",
    "AGUI103": "text-messages",
    "AGUI104": "text-messages",  # its second message is never ended; a reuse alone passes
    "AGUI105": (
        OUT_OF_SCOPE,
        "an empty delta (a warning): both SDKs' models take one; the client makes some",
    ),
    "AGUI106": "text-messages",
    "AGUI201": "tool-calls",
    "AGUI202": "tool-calls",
    "AGUI203": "tool-calls",
    "AGUI204": "tool-args",
    "AGUI205": "tool-calls",
    "AGUI206": "tool-calls",
    "AGUI207": "tool-calls",
    "AGUI208": (
        OUT_OF_SCOPE,
        "an unknown parentMessageId (info): it may be an earlier run's (ag-ui-langgraph)",
    ),
    "AGUI301": (OUT_OF_SCOPE, STATE),
    "AGUI302": (OUT_OF_SCOPE, STATE),
    "AGUI303": "schema",  # ag-ui-protocol 1.0 types a STATE_DELTA's patch operations
    "AGUI304": (OUT_OF_SCOPE, STATE),
    "AGUI305": (OUT_OF_SCOPE, STATE),
    "AGUI401": "reasoning",
    "AGUI402": "reasoning",
    "AGUI501": (SECOND_HALF, "SSE framing: the suite's SSE reader"),
    "AGUI502": (
        SECOND_HALF,
        "a data payload that is not JSON: the suite's SSE reader decodes frames",
    ),
    "AGUI503": "schema",
    "AGUI504": "schema",
    "AGUI505": (SECOND_HALF, "the Content-Type: the suite's SSE transport (rule transport)"),
    "AGUI506": (
        SECOND_HALF,
        "a keepalive gap (info): the suite's SSE transport, against its bounds",
    ),
    "AGUI507": (SECOND_HALF, "a buffered response (info): the suite's SSE transport and latency"),
    "AGUI508": (
        SECOND_HALF,
        "a dropped connection: the suite's SSE transport (its events fail run-terminal already)",
    ),
    "AGUI601": "subagents",
    "AGUI602": "subagents",
    "AGUI603": "subagents",
    "AGUI604": "subagents",
    "AGUI605": (
        OUT_OF_SCOPE,
        "an unknown parentSubagentRunId (a warning): attribution, maybe an earlier run's",
    ),
    "AGUI606": (
        OUT_OF_SCOPE,
        "a continuation's subagentRunId unlike its owner's (a warning): attribution",
    ),
    "AGUI901": (OUT_OF_SCOPE, "RAW wrapping a typed event (info): hygiene"),
    "AGUI902": (
        OUT_OF_SCOPE,
        "no timestamps (info): optional in AG-UI; ag-ui-langgraph sends none",
    ),
    "AGUI903": (OUT_OF_SCOPE, "a CUSTOM name not namespaced (info): naming advice"),
}
VALID = sorted(path.name for path in (FIXTURES / "valid").glob("*.jsonl"))
INVALID = sorted(path.name for path in (FIXTURES / "invalid").iterdir() if path.is_dir())


def read_stream(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def split_runs(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """A recorded session's runs: a RUN_STARTED after a terminal event begins the next one. One
    POST is one run (so the gate fails a second run in one answer); the corpus records
    human-in-the-loop as a session of two."""
    runs: list[list[dict[str, Any]]] = [[]]
    for event in events:
        if event.get("type") == "RUN_STARTED" and any(e["type"] in TERMINALS for e in runs[-1]):
            runs.append([])
        runs[-1].append(event)
    return runs


def request_of(events: list[dict[str, Any]]) -> RunRequest:
    """The request a recorded run answered: its first ids (the corpus records no request)."""
    named = next(event for event in events if "runId" in event)
    return RunRequest("corpus", named["threadId"], named["runId"], "", "")


def judge(events: list[dict[str, Any]]) -> set[str]:
    found = check_stream(events, request_of(events), schema_errors=event_problems)
    return {violation.rule for violation in found}


def test_the_table_maps_exactly_the_corpus() -> None:
    assert len(VALID) == 7
    assert len(INVALID) == 46
    assert sorted(TABLE) == [name[:7] for name in INVALID]
    verdicts = [v if isinstance(v, str) else v[0] for v in TABLE.values()]
    counts = {kind: verdicts.count(kind) for kind in (OUT_OF_SCOPE, SECOND_HALF)}
    assert (len(verdicts) - sum(counts.values()), counts) == (
        29,  # the counts docs/dialects/ag-ui.md gives
        {OUT_OF_SCOPE: 11, SECOND_HALF: 6},
    )


@pytest.mark.parametrize("name", VALID)
def test_every_valid_stream_passes(name: str) -> None:
    events = read_stream(FIXTURES / "valid" / name)
    runs = split_runs(events)
    assert [judge(run) for run in runs] == [set()] * len(runs)


def test_a_recorded_session_of_two_runs_is_not_one_answer() -> None:
    events = read_stream(FIXTURES / "valid" / "human-in-the-loop.jsonl")
    assert len(split_runs(events)) == 2
    assert judge(events) == {"run-terminal"}


IN_SCOPE = [name for name in INVALID if isinstance(TABLE[name[:7]], str)]
OTHERS = [name for name in INVALID if TABLE[name[:7]][0] == OUT_OF_SCOPE]


@pytest.mark.parametrize("name", IN_SCOPE)
def test_every_invalid_stream_in_scope_fails_naming_its_rule(name: str) -> None:
    assert judge(read_stream(FIXTURES / "invalid" / name / "stream.jsonl")) == {TABLE[name[:7]]}


@pytest.mark.parametrize("name", OTHERS)
def test_a_stream_out_of_scope_breaks_no_rule_of_the_gate(name: str) -> None:
    """What such a fixture breaks is all it breaks: the gate does not judge it, and passes."""
    assert judge(read_stream(FIXTURES / "invalid" / name / "stream.jsonl")) == set()


def test_the_dialect_page_shows_the_same_table() -> None:
    rows = re.findall(r"^\| (AGUI\d{3}) \| ([^|]+?) \|", DOC.read_text("utf-8"), re.MULTILINE)
    shown = {fixture: verdict.strip("` ") for fixture, verdict in rows}
    wanted = {
        fixture: verdict if isinstance(verdict, str) else verdict[0]
        for fixture, verdict in TABLE.items()
    }
    assert shown == wanted
