"""One AG-UI stream judged whole: the answer to one POST, as decoded events in arrival order.

    check_stream(events, request)            what any AG-UI stream must be (shape, lifecycle,
                                             tool calls, messages, steps, sub-agents)
    check_gate_run(events, request, tokens)  that, and what the gate's own runs must also be:
                                             finished normally, holding nothing foreign

The shape of each event is `schema_errors`' to judge (the suite's engine passes ag-ui-protocol's
models, tests/mission_critical/engine/agui_events.py). The pairing rules judge the events up to
the terminal one, after `*_CHUNK` expansion; what follows the terminal event is `run-terminal`'s
alone. `closed=False`: the suite stopped waiting at its run bound with the stream still open,
so a missing terminal event is `delivery`, not `run-terminal`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contract.agui.chunks import expand_chunks
from contract.agui.events import place, summarize_types, until_terminal
from contract.agui.isolation import check_isolation
from contract.agui.lifecycle import check_lifecycle, check_outcome
from contract.agui.messages import check_messages
from contract.agui.steps import check_steps
from contract.agui.tools import check_tools
from contract.agui.verdicts import Findings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contract.agui.events import Placed
    from contract.agui.isolation import Tokens
    from contract.agui.requests import RunRequest
    from contract.rules import SchemaCheck, Violation


def find_problems(
    placed: Sequence[Placed],
    request: RunRequest,
    findings: Findings,
    schema_errors: SchemaCheck,
    *,
    closed: bool,
) -> None:
    for item in placed:
        errors = schema_errors(item.event)
        if errors:
            findings.add("schema", item.at, f"event #{item.at} {item.type}: {errors[0]}")
    check_lifecycle(placed, request, findings, closed=closed)
    expansion = expand_chunks(until_terminal(placed))
    for rule, at, text in expansion.problems:
        findings.add(rule, at, text)
    check_tools(expansion.events, findings)
    check_messages(expansion.events, findings)
    check_steps(expansion.events, findings)


def verdict(findings: Findings, request: RunRequest) -> list[Violation]:
    ids = f"threadId={request.thread_id!r} runId={request.run_id!r}"
    return findings.violations({"run-ids": f"expected RUN_STARTED and RUN_FINISHED to carry {ids}"})


def new_findings(events: Sequence[Mapping[str, Any]], request: RunRequest) -> Findings:
    return Findings(request.run_id, request.user, summarize_types(events))


def check_stream(
    events: Sequence[Mapping[str, Any]],
    request: RunRequest,
    *,
    schema_errors: SchemaCheck,
    closed: bool = True,
) -> list[Violation]:
    """Every rule of AG-UI the stream breaks, one violation per rule."""
    findings = new_findings(events, request)
    find_problems(place(events), request, findings, schema_errors, closed=closed)
    return verdict(findings, request)


def check_gate_run(
    events: Sequence[Mapping[str, Any]],
    request: RunRequest,
    tokens: Tokens,
    *,
    schema_errors: SchemaCheck,
    closed: bool = True,
) -> list[Violation]:
    """`check_stream`, and `run-outcome` and `isolation`: for a run the gate asked for."""
    placed = place(events)
    findings = new_findings(events, request)
    find_problems(placed, request, findings, schema_errors, closed=closed)
    check_outcome(placed, findings)
    check_isolation(placed, request, tokens, findings)
    return verdict(findings, request)
