"""Rule `health`: GET the health path answers 200 with a JSON object within the wait bound."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from contract.rules import NO_RUN, Violation

from .engine.environment import redact_url
from .engine.health import fetch_health
from .engine.runner import NOT_REPORTED
from .engine.sockets import make_ssl_context

if TYPE_CHECKING:
    from .engine.check import Check

pytestmark = pytest.mark.mission_critical


def judge_health(status: int, body: bytes, version_key: str) -> tuple[str | None, str | None]:
    """(why the answer breaks `health` or None, the backend's version or None)."""
    if status != 200:
        return f"expected HTTP 200, got {status}", None
    try:
        document = json.loads(body)
    except ValueError:
        return "expected a JSON body, got something else", None
    if not isinstance(document, dict):
        return f"expected a JSON object, got JSON {type(document).__name__}", None
    version = document.get(version_key) if version_key else None
    return None, version[:80] if isinstance(version, str) else None


@pytest.mark.rules("health")
async def test_health_answers_a_json_object(mc: Check) -> None:
    url = mc.settings.health_url
    where = f"GET {redact_url(url)}"
    problem: str | None
    try:
        answer = await fetch_health(
            url, make_ssl_context(url, mc.settings.ca_bundle), mc.settings.timeout
        )
    except TimeoutError:
        problem, version = f"expected an answer within {mc.settings.timeout:g} s; none came", None
    except OSError as exc:
        problem, version = f"expected an answer; {exc.__class__.__name__}: {exc}", None
    else:
        problem, version = judge_health(answer.status, answer.body, mc.dialect.version_key)
    mc.runner.record_version(version or NOT_REPORTED)
    mc.add([] if problem is None else [Violation("health", NO_RUN, "-", f"{where}: {problem}")])
