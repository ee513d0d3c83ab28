"""The suite's sockets: one WebSocket handshake, authenticated as the dialect spells it.

`open_socket` presents a token by header, subprotocol or query (`[auth]` of the dialect) and
turns every failure into a `HandshakeError` whose text never holds the token. Its connection
(`TimedConnection`) notes when each message arrived, so a run's latency is the backend's and
not how long the suite took to get round to reading it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol

from contract.messages import subprotocol_for

if TYPE_CHECKING:
    from websockets.protocol import Event

    from contract.dialect import AuthMethod, Dialect

ABNORMAL_CLOSURE = 1006  # what a connection that ended without a close frame reports
DATA_OPCODES = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})
CLOSE_BOUND = 2.0  # seconds a closing handshake may take before the transport is aborted
DOCUMENT = "A paragraph of the document the user pasted, to be summarised with one tool call. "


class TimedConnection(ClientConnection):
    """A client connection that notes the moment each data message's last frame is read off the
    socket (its arrival), for the reader to take with the message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: deque[float] = deque()  # monotonic seconds, one per message not taken

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.fin and event.opcode in DATA_OPCODES:
            self.arrivals.append(time.monotonic())
        super().process_event(event)

    def arrived(self) -> float:
        """When the message just received arrived (now, if it was not noted)."""
        return self.arrivals.popleft() if self.arrivals else time.monotonic()


# What a deployment's rate limit or its edge (a load balancer, a platform's router) answers when
# it sheds load: not the backend's verdict on the token, and named as such.
EDGE_HINT = (
    "the deployment's rate limit or its edge refused the gate's user, as it would a real one: "
    "raise the limit for the gate's users (MC_USERS of them at once), or fix what sheds the load"
)
EDGE_ANSWERS = {
    429: "rate limited",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


class HandshakeError(Exception):
    """No WebSocket connection: `status` is the HTTP answer, None when there was none;
    `retry_after` the Retry-After header of a refusal, as sent."""

    def __init__(self, status: int | None, reason: str, retry_after: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def edge(self) -> bool:
        """Refused by the deployment's rate limit or its edge shedding load (429, 502-504)."""
        return self.status in EDGE_ANSWERS

    def refusal(self) -> str:
        """`handshake refused with HTTP 429 (rate limited; Retry-After 10)`."""
        meaning = EDGE_ANSWERS.get(self.status or 0, "refused")
        wait = self.retry_after if self.retry_after and self.retry_after.isprintable() else ""
        asked = f"; Retry-After {wait[:40]}" if wait else ""
        return f"handshake refused with HTTP {self.status} ({meaning}{asked})"

    def __str__(self) -> str:
        if self.edge:
            return self.refusal()
        answer = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        return f"handshake failed ({answer}): {self.reason}"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect, in which dialect, and how long a wait may take."""

    ws_url: str = field(repr=False)  # may carry a token in its query
    ssl_context: ssl.SSLContext | None
    timeout: float
    run_timeout: float
    max_frame: int
    dialect: Dialect


def make_ssl_context(url: str, ca_bundle: str | None) -> ssl.SSLContext | None:
    """A verifying TLS context for wss/https (MC_CA_BUNDLE, else system roots); None for ws/http."""
    if urlsplit(url).scheme not in {"wss", "https"}:
        return None
    return ssl.create_default_context(cafile=ca_bundle)


def new_id(kind: str) -> str:
    return f"mc-{kind}-{secrets.token_hex(6)}"


def with_query_token(url: str, token: str, parameter: str = "token") -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (parameter, token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def scrub(text: str, token: str | None, dialect: Dialect | None = None) -> str:
    """`text` with the token, and its subprotocol form, replaced by ***."""
    if not token:
        return text
    if dialect is not None:
        text = text.replace(subprotocol_for(dialect, token), f"{dialect.subprotocol_prefix}***")
    return text.replace(token, "***")


async def open_socket(
    endpoint: Endpoint,
    token: str | None,
    method: AuthMethod = "header",
    bound: float | None = None,
) -> TimedConnection:
    """A connected socket presenting `token` by `method` (none when `token` is None), within
    `bound` seconds (default: the endpoint's single-wait bound)."""
    dialect = endpoint.dialect
    seconds = endpoint.timeout if bound is None else bound
    url, headers, subprotocols = endpoint.ws_url, {}, None
    if token is not None and method == "header":
        headers = {"Authorization": f"Bearer {token}"}
    elif token is not None and method == "subprotocol":
        subprotocols = [Subprotocol(subprotocol_for(dialect, token))]
    elif token is not None:
        url = with_query_token(url, token, dialect.query_parameter)
    try:
        async with asyncio.timeout(seconds):
            ws = await connect(
                url,
                create_connection=TimedConnection,
                additional_headers=headers,
                subprotocols=subprotocols,
                ssl=endpoint.ssl_context,
                compression=None,
                proxy=None,
                open_timeout=None,
                ping_interval=None,
                close_timeout=min(endpoint.timeout, CLOSE_BOUND),
                max_size=max(4 * endpoint.max_frame, 4 * 2**20),
                max_queue=None,
            )
    except InvalidStatus as exc:
        status = exc.response.status_code
        retry_after = exc.response.headers.get("Retry-After")
        raise HandshakeError(status, f"server answered HTTP {status}", retry_after) from None
    except TimeoutError:
        raise HandshakeError(None, f"no handshake within {seconds:g} s") from None
    except Exception as exc:
        reason = scrub(f"{exc.__class__.__name__}: {exc}", token, dialect)
        raise HandshakeError(None, reason) from None
    assert isinstance(ws, TimedConnection)  # the class asked for above
    return ws


def time_left(seconds: float, deadline: float) -> float:
    """`seconds`, or what is left until `deadline` (monotonic) when that is less; never < 0."""
    return max(0.0, min(seconds, deadline - time.monotonic()))


def padded_ping(size: int, ping_type: str = "ping") -> str:
    """A ping frame of exactly `size` bytes (at least the bare ping's), padded in one field."""
    head, tail = f'{{"type": "{ping_type}", "padding": "', '"}'
    return head + "x" * max(0, size - len(head) - len(tail)) + tail


def padded_request(message: dict[str, Any], payload_key: str, text_key: str, size: int) -> str:
    """`message` as one JSON frame, of `size` bytes when that is more than its own: its
    `payload_key.text_key` text followed by a pasted document (plain sentences)."""
    frame = json.dumps(message)
    missing = size - len(frame)
    if missing <= 0:
        return frame
    payload = dict(message[payload_key])
    document = (DOCUMENT * (missing // len(DOCUMENT) + 1))[: missing - 1]
    payload[text_key] = f"{payload[text_key]} {document}"
    return json.dumps({**message, payload_key: payload})


def read_close_code(ws: ClientConnection) -> int:
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else ABNORMAL_CLOSURE
