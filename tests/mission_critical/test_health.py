"""Rule `health`: GET /health answers 200 with a JSON object within the wait bound."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from contract.rules import NO_RUN, Violation

from .client import fetch_health, make_ssl_context, require_clean
from .environment import redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from .environment import Settings

pytestmark = [pytest.mark.mission_critical, pytest.mark.asyncio]


def judge_health(status: int, body: bytes) -> tuple[str | None, str | None]:
    """(why the answer breaks `health` or None, the backend's version or None)."""
    if status != 200:
        return f"expected HTTP 200, got {status}", None
    try:
        document = json.loads(body)
    except ValueError:
        return "expected a JSON body, got something else", None
    if not isinstance(document, dict):
        return f"expected a JSON object, got JSON {type(document).__name__}", None
    version = document.get("version")
    return None, version if isinstance(version, str) else None


async def test_health_answers_a_json_object(
    settings: Settings,
    record_version: Callable[[str], None],
    record_testsuite_property: Callable[[str, object], None],
) -> None:
    url = settings.health_url
    where = f"GET {redact_url(url)}"
    problem: str | None
    try:
        answer = await fetch_health(
            url, make_ssl_context(url, settings.ca_bundle), settings.timeout
        )
    except TimeoutError:
        problem, version = f"expected an answer within {settings.timeout:g} s; none came", None
    except OSError as exc:
        problem, version = f"expected an answer; {exc.__class__.__name__}: {exc}", None
    else:
        problem, version = judge_health(answer.status, answer.body)
    reported = version or "not reported"
    record_version(reported)
    record_testsuite_property("backend_version", reported)
    violations = (
        [] if problem is None else [Violation("health", NO_RUN, "-", f"{where}: {problem}")]
    )
    require_clean(violations)
