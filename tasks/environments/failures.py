"""What a failed probe saw, in one line, and whether it is transient or definitive.

This is the one place that decides whether probing on could help:

    transient    a later try may pass: refused, reset, dropped, timed out; HTTP 429, 500, 502,
                 503, 504; close 1001, 1011, 1012, 1013 (a backend still starting, or the
                 proxy, edge or docker-proxy in front of it answering first)
    definitive   it will not: HTTP 401/403 (the token refused), 404 (no such path) and every
                 other status; close 1008 and the other codes; the dialect's refusal or any other
                 wrong greeting; a health answer that is not a JSON object; a host name that does
                 not resolve; a certificate that is not trusted

``tasks.environments.probes`` keeps the verdict on each ``ProbeResult`` (``failure``,
``definitive``); the readiness loops fail at once on a definitive one, and retry a transient
one until their bound. The messages name the keys of the environment being run (``Hints``).
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Literal

Failure = Literal["transient", "definitive"]


@dataclass(frozen=True)
class Hints:
    """What a failure tells the user to check, in the keys of the environment being run."""

    rejected: str  # the token was refused, e.g. "check STAGING_JWT_SECRET or STAGING_TOKENS"
    untrusted: str = ""  # the TLS certificate is not trusted
    insecure: str = ""  # how plain ws:// to a remote host is allowed


# Answers that a backend (or the proxy, edge or docker-proxy in front of it) gives while it is
# still starting or briefly overloaded: worth another try within the bound. 500 is here because
# a backend whose dependencies are still coming up often says so with a 500 on its health path.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# Close codes that say "not now" rather than "no": going away, internal error, restart, later.
TRANSIENT_CLOSE_CODES = frozenset({1001, 1011, 1012, 1013})


def classify_status(status: int) -> Failure:
    """An HTTP answer that is not the one wanted: 401/403, 404 (no such path), a redirect, ...
    are definitive; the statuses of a backend or an edge that is not ready yet are transient."""
    return "transient" if status in TRANSIENT_STATUSES else "definitive"


def classify_close(code: int) -> Failure:
    """A close before the greeting: 1008 (the token refused) and the like are definitive."""
    return "transient" if code in TRANSIENT_CLOSE_CODES else "definitive"


def classify_error(exc: BaseException) -> Failure:
    """A network failure: refused, reset, dropped, timed out are transient (nothing listens yet,
    or a proxy in front accepted before the backend could); a name that does not resolve and a
    certificate that is not trusted are definitive, as is an HTTP status or close code that is."""
    from urllib.error import URLError  # noqa: PLC0415

    from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: PLC0415

    if isinstance(exc, URLError) and isinstance(exc.reason, BaseException):
        return classify_error(exc.reason)
    if isinstance(exc, (ssl.SSLCertVerificationError, socket.gaierror)):
        return "definitive"
    if isinstance(exc, InvalidStatus):
        return classify_status(exc.response.status_code)
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return classify_close(exc.rcvd.code)
    return "transient"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """The seconds a Retry-After header asks for (delta-seconds or an HTTP date, RFC 9110
    10.2.3); None when there is none or it does not parse."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime  # noqa: PLC0415

    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def retry_after_of(exc: BaseException) -> float | None:
    """What a transient refusal of the handshake (429, 503, ...) asked for in Retry-After."""
    from websockets.exceptions import InvalidStatus  # noqa: PLC0415

    if not isinstance(exc, InvalidStatus) or classify_error(exc) != "transient":
        return None
    return parse_retry_after(exc.response.headers.get("Retry-After"))


def describe_error(exc: BaseException, hints: Hints) -> str:
    """One line saying what a network failure was (never the request's headers)."""
    from urllib.error import URLError  # noqa: PLC0415

    from websockets.exceptions import (  # noqa: PLC0415
        ConnectionClosed,
        InvalidHandshake,
        InvalidStatus,
    )

    if isinstance(exc, URLError) and isinstance(exc.reason, BaseException):
        return describe_error(exc.reason, hints)
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = f"; {hints.untrusted}" if hints.untrusted else ""
        return f"TLS certificate not trusted ({exc.verify_message}){why}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        why = f" (the token was rejected: {hints.rejected})" if status in {401, 403} else ""
        return f"handshake refused with HTTP {status}{why}"
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is None:
            return "connection dropped without a close frame"
        why = f" ({frame.reason[:80]})" if frame.reason else ""
        hint = f"; the token was rejected: {hints.rejected}" if frame.code == 1008 else ""
        return f"connection closed with code {frame.code}{why}{hint}"
    if isinstance(exc, InvalidHandshake):
        return f"handshake failed ({exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"host name does not resolve ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
