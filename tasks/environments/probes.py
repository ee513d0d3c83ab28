"""The probes themselves: HTTP health, WebSocket handshake + greeting, ping round trip.

Each probe is bounded by ``Plan.bound`` and timed, and turns every failure into a ``ProbeResult``
holding a ``ProbeError`` (probe, what it saw, how long it waited, the URL redacted) and whether
the failure is ``transient`` (a later try may pass: refused, reset, timed out, 502/503/504) or
``definitive`` (it will not: 401/403, close 1008, the dialect's refusal, a wrong greeting). That
decision is made in one place (``failures``) and kept on the result (``ProbeResult.failure``);
every loop that probes until ready (``readiness``) acts on it. Nothing here reads settings: the
environment resolves them into a ``Plan`` first, hints included, so a failure names the keys of
the environment being run. No message holds a token or a secret (``scrub`` removes any that a peer
echoes back). The probes connect directly (no HTTP proxy) and never send a token over plain
ws:// to a host that is not loopback unless the plan allows it.

    probe_health(plan)       GET the health URL: 200 with a JSON object
    probe_socket(plan)       the handshake with a token, greeted, then a ping answered
    probe_ready(plan)        what "ready" means for the plan's dialect: health, then a greeted
                             handshake (the ping is the suite's to judge)
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from contract.dialect import Dialect, load_dialect
from contract.messages import error_code_of, ping_message, subprotocol_for
from contract.rules import FrameError, parse_frame
from contract.rules import check_greeting as rules_greeting
from contract.visible import show
from tasks.environments.failures import (
    Failure,
    Hints,
    classify_error,
    classify_status,
    describe_error,
    parse_retry_after,
    retry_after_of,
)
from tasks.settings.addresses import is_loopback
from tasks.settings.errors import ProbeError
from tasks.target import redact_url

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.typing import Subprotocol

ProbeName = Literal["wake", "health", "handshake", "ping"]
Outcome = Literal["pass", "fail", "not run"]

PROBES: tuple[ProbeName, ...] = ("health", "handshake", "ping")
USER_AGENT = "mission-critical-gate probe"
# The probes' own websockets logger, never below WARNING: at DEBUG, websockets logs the
# handshake's headers, a token among them, and nox runs with a DEBUG root logger.
QUIET_LOGGER = logging.getLogger("tasks.environments.probes.websockets")
QUIET_LOGGER.setLevel(logging.WARNING)
MAX_HEALTH_BYTES = 64 * 1024


@dataclass(frozen=True)
class ProbeResult:
    probe: ProbeName
    outcome: Outcome
    seconds: float
    detail: str  # what it saw; never a token
    url: str  # redacted
    error: ProbeError | None = None
    facts: dict[str, str] = field(default_factory=dict)  # e.g. backend_version, ping_ms
    failure: Failure | None = None  # for a failed probe: may a later try pass?
    retry_after: float | None = None  # seconds a transient answer's Retry-After asked for

    @property
    def definitive(self) -> bool:
        """A failure no later try will change (probing on would only wait out the bound)."""
        return self.failure == "definitive"

    @property
    def transient(self) -> bool:
        """A failure a later try may change: worth another try within a bound."""
        return self.failure == "transient"


@dataclass(frozen=True)
class Plan:
    """What the probes talk to, resolved once from Settings."""

    ws_url: str
    http_url: str  # the health base
    health_url: str
    bound: float
    auth: str  # how the probe authenticates, for the summary (no value)
    token: str = field(repr=False)
    context: ssl.SSLContext | None = field(repr=False)
    insecure_ok: bool
    secrets: tuple[str, ...] = field(repr=False)
    hints: Hints
    dialect: Dialect = field(default_factory=load_dialect, repr=False)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


def _fail(
    plan: Plan,
    probe: ProbeName,
    seen: str,
    waited: float,
    url: str,
    failure: Failure,
    retry_after: float | None = None,
) -> ProbeResult:
    if retry_after is not None:
        seen += f" (Retry-After {retry_after:g}s)"
    safe = scrub(seen, plan.secrets)
    error = ProbeError(probe, safe, waited, redact_url(url))
    return ProbeResult(
        probe,
        "fail",
        waited,
        safe,
        redact_url(url),
        error,
        failure=failure,
        retry_after=retry_after,
    )


def not_run(plan: Plan, probe: ProbeName, why: str) -> ProbeResult:
    return ProbeResult(probe, "not run", 0.0, why, redact_url(plan.ws_url))


# ---- health -------------------------------------------------------------------------------------


def probe_health(plan: Plan) -> ProbeResult:
    """GET the health URL in a daemon thread, so a silent server costs the bound and no more."""
    box: list[_Answer | BaseException] = []
    worker = threading.Thread(
        target=_fetch_into, args=(plan, box), name="mc-staging-health", daemon=True
    )
    start = time.monotonic()
    worker.start()
    worker.join(plan.bound)
    waited = time.monotonic() - start
    url = plan.health_url
    if not box:
        seen = f"no answer within {plan.bound:g}s"
        return _fail(plan, "health", seen, waited, url, "transient")
    answer = box[0]
    if isinstance(answer, BaseException):
        seen = describe_error(answer, plan.hints)
        return _fail(plan, "health", seen, waited, url, classify_error(answer))
    text = answer.body[:MAX_HEALTH_BYTES].decode("utf-8", errors="replace")
    if answer.status != 200:
        snippet = " ".join(text.split())[:120]
        said = f": {show(snippet)}" if snippet else ""
        seen = f"HTTP {answer.status}{said}"
        failure = classify_status(answer.status)
        wait = parse_retry_after(answer.retry_after) if failure == "transient" else None
        return _fail(plan, "health", seen, waited, url, failure, wait)
    try:
        document = json.loads(text)
    except ValueError:
        seen = "HTTP 200 but the body is not JSON"
        return _fail(plan, "health", seen, waited, url, "definitive")
    if not isinstance(document, dict):
        seen = f"HTTP 200 but the body is a JSON {type(document).__name__}, not an object"
        return _fail(plan, "health", seen, waited, url, "definitive")
    facts: dict[str, str] = {}
    detail = "HTTP 200, JSON object"
    version = document.get("version")
    if version is not None:
        facts["backend_version"] = scrub(str(version), plan.secrets)[:80]
        detail += f", version {show(facts['backend_version'])}"
    return ProbeResult("health", "pass", waited, detail, redact_url(url), facts=facts)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    retry_after: str | None  # the Retry-After header, as sent


def _fetch_into(plan: Plan, box: list[_Answer | BaseException]) -> None:
    from urllib.error import HTTPError  # noqa: PLC0415
    from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener  # noqa: PLC0415

    handlers: list[Any] = [ProxyHandler({})]
    if plan.context is not None:
        handlers.append(HTTPSHandler(context=plan.context))
    request = Request(  # noqa: S310 - the scheme is checked by the settings (http or https)
        plan.health_url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    try:
        with build_opener(*handlers).open(request, timeout=plan.bound) as response:
            body = response.read(MAX_HEALTH_BYTES + 1)
            box.append(_Answer(response.status, body, response.headers.get("Retry-After")))
    except HTTPError as exc:
        with exc:
            body = exc.read(MAX_HEALTH_BYTES + 1)
            box.append(_Answer(exc.code, body, exc.headers.get("Retry-After")))
    except BaseException as exc:  # reported as the probe's verdict
        box.append(exc)


# ---- handshake and ping -------------------------------------------------------------------------


def refuse_plain_ws(plan: Plan) -> ProbeResult | None:
    """The handshake's failure when it would send a token in clear text to a remote host."""
    parts = urlsplit(plan.ws_url)
    host = parts.hostname or ""
    if parts.scheme != "ws" or is_loopback(host) or plan.insecure_ok:
        return None
    seen = (
        f"refused to send a token over plain ws:// to {host}; {plan.hints.insecure or 'use wss://'}"
    )
    return _fail(plan, "handshake", seen, 0.0, plan.ws_url, "definitive")


def probe_socket(plan: Plan) -> list[ProbeResult]:
    """The handshake (with token and greeting) and then the ping, on one connection."""
    refused = refuse_plain_ws(plan)
    if refused is not None:
        return [refused, not_run(plan, "ping", "needs a handshake")]
    return asyncio.run(_probe_socket(plan, ping=True))


def probe_ready(plan: Plan) -> list[ProbeResult]:
    """Whether the backend is ready, as its dialect defines it: the health path answers, then a
    handshake with the plan's token is greeted; stops at the first failure. (Every dialect
    speaks WebSocket today; a transport of another kind brings its own probes here.)"""
    health = probe_health(plan)
    if health.outcome != "pass":
        return [health]
    refused = refuse_plain_ws(plan)
    return [health, refused or asyncio.run(_probe_socket(plan, ping=False))[0]]


def presented(plan: Plan) -> tuple[str, dict[str, str], list[Subprotocol] | None]:
    """(URL, headers, subprotocols) presenting the probe's token by the dialect's first method."""
    dialect = plan.dialect
    method = dialect.auth_methods[0]
    if method == "header":
        return plan.ws_url, {"Authorization": f"Bearer {plan.token}"}, None
    if method == "subprotocol":
        from websockets.typing import Subprotocol  # noqa: PLC0415

        return plan.ws_url, {}, [Subprotocol(subprotocol_for(dialect, plan.token))]
    parts = urlsplit(plan.ws_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (dialect.query_parameter, plan.token)]
    return urlunsplit(parts._replace(query=urlencode(query))), {}, None


async def _probe_socket(plan: Plan, *, ping: bool) -> list[ProbeResult]:
    from websockets.asyncio.client import connect  # noqa: PLC0415

    start = time.monotonic()
    stage = "no handshake response"
    connection: ClientConnection | None = None
    url, headers, subprotocols = presented(plan)
    try:
        try:
            async with asyncio.timeout(plan.bound):
                connection = await connect(
                    url,
                    additional_headers=headers,
                    subprotocols=subprotocols,
                    ssl=plan.context if plan.ws_url.startswith("wss://") else None,
                    proxy=None,
                    open_timeout=None,
                    ping_interval=None,
                    close_timeout=plan.bound,
                    user_agent_header=USER_AGENT,
                    logger=QUIET_LOGGER,  # its DEBUG lines would carry the Authorization header
                )
                stage = "handshake done but no greeting"
                raw = await connection.recv()
        except TimeoutError:
            seen = f"{stage} within {plan.bound:g}s"
            waited = time.monotonic() - start
            failed = _fail(plan, "handshake", seen, waited, plan.ws_url, "transient")
            return [failed, not_run(plan, "ping", "needs a handshake")]
        except Exception as exc:
            seen = describe_error(exc, plan.hints)
            if stage != "no handshake response":
                seen += " before the greeting"
            waited = time.monotonic() - start
            failure, wait = classify_error(exc), retry_after_of(exc)
            failed = _fail(plan, "handshake", seen, waited, plan.ws_url, failure, wait)
            return [failed, not_run(plan, "ping", "needs a handshake")]
        waited = time.monotonic() - start
        problem = check_greeting(raw, plan.dialect, plan.hints)
        if problem:
            failed = _fail(plan, "handshake", problem, waited, plan.ws_url, "definitive")
            return [failed, not_run(plan, "ping", "needs a handshake")]
        greeting = plan.dialect.greeting_type
        detail = f"greeting {greeting}; auth: {plan.auth}; dialect {plan.dialect.name}"
        shaken = ProbeResult("handshake", "pass", waited, detail, redact_url(plan.ws_url))
        if not ping:
            return [shaken]
        return [shaken, await _probe_ping(plan, connection)]
    finally:
        if connection is not None:
            with suppress(Exception):
                async with asyncio.timeout(plan.bound):
                    await connection.close()


def check_greeting(raw: str | bytes, dialect: Dialect, hints: Hints) -> str | None:
    """Why the first message is not the dialect's greeting, or None when it is (a refusal of
    the token, as the dialect spells one, is named as such)."""
    try:
        message = parse_frame(raw)
    except FrameError as exc:
        return f"the first message is not a JSON object with a type ({exc})"
    kind = str(message.get("type"))[:40]
    if kind == dialect.error_type:
        code = error_code_of(message, dialect)
        shown = str(code)[:40] if isinstance(code, str) else "no code"
        rejected = code in dialect.reject_error_codes
        why = f" (the token was rejected: {hints.rejected})" if rejected else ""
        return f"the first message is {kind!r} ({shown}), not {dialect.greeting_type}{why}"
    return rules_greeting(message, dialect.greeting_type, dialect.connection_id_paths)


async def _probe_ping(plan: Plan, connection: ClientConnection) -> ProbeResult:
    start = time.monotonic()
    others, pong = 0, plan.dialect.pong_type
    try:
        async with asyncio.timeout(plan.bound):
            await connection.send(json.dumps(ping_message(plan.dialect)))
            while True:
                with suppress(ValueError):
                    message = json.loads(await connection.recv())
                    if isinstance(message, dict) and message.get("type") == pong:
                        break
                others += 1
    except TimeoutError:
        seen = f"no {pong} within {plan.bound:g}s ({others} other messages)"
        return _fail(plan, "ping", seen, time.monotonic() - start, plan.ws_url, "transient")
    except Exception as exc:
        seen, waited = describe_error(exc, plan.hints), time.monotonic() - start
        return _fail(plan, "ping", seen, waited, plan.ws_url, classify_error(exc))
    waited = time.monotonic() - start
    facts = {"ping_ms": f"{waited * 1000:.1f}"}
    detail = f"{pong} in {waited * 1000:.1f} ms"
    return ProbeResult("ping", "pass", waited, detail, redact_url(plan.ws_url), facts=facts)
