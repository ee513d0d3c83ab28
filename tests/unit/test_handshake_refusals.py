"""How the suite says a handshake failed: the edge's refusals (429, 502-504) by what they mean,
with their Retry-After; everything else as it came."""

from __future__ import annotations

import pytest

from tests.mission_critical.engine.sockets import HandshakeError

CASES = [
    (429, "10", "handshake refused with HTTP 429 (rate limited; Retry-After 10)"),
    (503, None, "handshake refused with HTTP 503 (service unavailable)"),
    (502, "", "handshake refused with HTTP 502 (bad gateway)"),
    (504, "Fri, 04 Dec 2026 05:00:00 GMT", "(gateway timeout; Retry-After Fri, 04 Dec 2026"),
    (429, "10\x1b[2J", "handshake refused with HTTP 429 (rate limited)"),  # not shown raw
    (401, "10", "handshake failed (HTTP 401): server answered HTTP 401"),
    (None, None, "handshake failed (no HTTP answer): no handshake within 2 s"),
]


@pytest.mark.parametrize(
    ("status", "retry_after", "says"),
    CASES,
    ids=["429", "503", "502-empty", "504-date", "429-escapes", "401", "no-answer"],
)
def test_what_a_failed_handshake_says(
    status: int | None, retry_after: str | None, says: str
) -> None:
    reason = f"server answered HTTP {status}" if status else "no handshake within 2 s"
    error = HandshakeError(status, reason, retry_after)
    assert says in str(error)
    assert error.edge is (status in {429, 502, 503, 504})
    assert str(error).isprintable()
