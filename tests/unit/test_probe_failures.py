"""Whether a failed probe is transient (probe on) or definitive (fail at once): one table, read
through the same classifier every readiness loop acts on, with what the message names."""

from __future__ import annotations

import socket
import ssl
from email.utils import formatdate
from urllib.error import URLError

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidMessage, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response

from tasks.environments.failures import (
    Failure,
    Hints,
    classify_close,
    classify_error,
    classify_status,
    describe_error,
    parse_retry_after,
    retry_after_of,
)

HINTS = Hints(rejected="check MC_TEST_SECRET", untrusted="name it in MC_TEST_CA")


def status(code: int, retry_after: str | None = None) -> InvalidStatus:
    headers = Headers(**({"Retry-After": retry_after} if retry_after is not None else {}))
    return InvalidStatus(Response(code, "x", headers))


def closed(code: int | None) -> ConnectionClosedError:
    return ConnectionClosedError(None if code is None else Close(code, "bye"), None)


def untrusted() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError("certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


# (id, the failure, transient or definitive, what the one line says)
ERRORS = [
    ("refused", ConnectionRefusedError(), "transient", "connection refused"),
    ("refused-in-urlerror", URLError(ConnectionRefusedError()), "transient", "refused"),
    ("reset", ConnectionResetError(104, "Connection reset by peer"), "transient", "reset"),
    ("timed-out", TimeoutError(), "transient", "timed out"),
    ("no-http-answer", InvalidMessage("did not receive a valid HTTP response"), "transient",
     "handshake failed"),
    ("dropped", closed(None), "transient", "dropped without a close frame"),
    ("http-503", status(503), "transient", "HTTP 503"),
    ("http-502", status(502), "transient", "HTTP 502"),
    ("http-429", status(429), "transient", "HTTP 429"),
    ("close-1011", closed(1011), "transient", "code 1011"),
    ("close-1013", closed(1013), "transient", "code 1013"),
    ("http-401", status(401), "definitive", "the token was rejected: check MC_TEST_SECRET"),
    ("http-403", status(403), "definitive", "the token was rejected: check MC_TEST_SECRET"),
    ("http-404", status(404), "definitive", "HTTP 404"),
    ("close-1008", closed(1008), "definitive", "the token was rejected: check MC_TEST_SECRET"),
    ("close-1000", closed(1000), "definitive", "code 1000"),
    ("no-such-host", socket.gaierror(-2, "Name or service not known"), "definitive",
     "does not resolve"),
    ("untrusted-certificate", untrusted(), "definitive",
     "not trusted (self-signed certificate); name it in MC_TEST_CA"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "failure", "says"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_each_failure_is_judged_and_said(error: BaseException, failure: Failure, says: str) -> None:
    assert classify_error(error) == failure
    assert says in describe_error(error, HINTS)


@pytest.mark.parametrize(
    ("code", "failure"),
    [(200, "definitive"), (301, "definitive"), (401, "definitive"), (404, "definitive"),
     (429, "transient"), (500, "transient"), (502, "transient"), (503, "transient"),
     (504, "transient")],
)  # fmt: skip
def test_health_statuses(code: int, failure: Failure) -> None:
    assert classify_status(code) == failure


@pytest.mark.parametrize(
    ("code", "failure"),
    [(1000, "definitive"), (1001, "transient"), (1008, "definitive"), (1011, "transient"),
     (1012, "transient"), (1013, "transient")],
)  # fmt: skip
def test_close_codes(code: int, failure: Failure) -> None:
    assert classify_close(code) == failure


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("10", 10.0),
        (" 0 ", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        (formatdate(1_000_030.0, usegmt=True), 30.0),
        (formatdate(999_000.0, usegmt=True), 0.0),  # a date in the past: no wait
    ],
    ids=["seconds", "zero", "absent", "empty", "garbage", "negative", "date", "past-date"],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=1_000_000.0) == seconds


@pytest.mark.parametrize(
    ("error", "seconds"),
    [(status(429, "10"), 10.0), (status(503, "2"), 2.0), (status(503), None),
     (status(401, "10"), None), (ConnectionRefusedError(), None)],
    ids=["429", "503", "503-without", "401-is-definitive", "not-an-answer"],
)  # fmt: skip
def test_what_a_transient_refusal_asks_to_wait(error: BaseException, seconds: float | None) -> None:
    assert retry_after_of(error) == seconds
