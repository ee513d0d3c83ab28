"""Staging: wake a remote deployment, probe it, then hand the suite its Target.

First the wake phase (``wake``, bounded by STAGING_READY_TIMEOUT): the probes are tried until
they pass or fail definitively, so a deployment that sleeps (and takes a minute to serve) is
judged, not failed. Then the last try's three probes, in order (``probes``), each bounded by
STAGING_PROBE_TIMEOUT and timed, are the verdict:

    health     GET <STAGING_BACKEND_URL><health path> answers 200 with a JSON object (the
               version reported where the dialect names one)
    handshake  the WebSocket handshake to STAGING_WEBSOCKET_URL with a token minted with the
               dialect's claims (or the first static one), by the dialect's first auth method,
               then the dialect's greeting (a refusal in the dialect's words is named as one)
    ping       the dialect's ping answered by its pong on that connection, timed

TLS is verified against the system roots, or against STAGING_CA_BUNDLE when it is set. No token
is sent over plain ws:// to a host that is not loopback unless STAGING_ALLOW_INSECURE_WS is true.
A failed probe is a ``ProbeError`` (probe, what it saw, how long it waited, the URL redacted);
no message ever holds a token or a secret.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from tasks.environments.failures import Hints
from tasks.environments.probes import (
    PROBES,
    Plan,
    ProbeResult,
    not_run,
    probe_health,
    probe_socket,
)
from tasks.environments.tokens import mint_token
from tasks.environments.wake import wake
from tasks.settings import Settings, read_ca_bundle
from tasks.settings.errors import ProbeError, SettingsError
from tasks.target import Target, redact_url

__all__ = ["ProbeResult", "format_probe_table", "mint_token", "probe_staging", "serve_staging"]

Log = Callable[[str], None]

PROBE_SUBJECT = "mc-probe"
HINTS = Hints(
    rejected="check STAGING_JWT_SECRET or STAGING_TOKENS",
    untrusted="if the deployment uses a private CA, name its PEM file in STAGING_CA_BUNDLE",
    insecure="use wss:// or set STAGING_ALLOW_INSECURE_WS=true",
)
CONFIGURED = "Configured for staging testing: WebSocket={url}"
NO_AUTH = "staging needs STAGING_JWT_SECRET (to mint tokens) or STAGING_TOKENS (static tokens)"
UNSET = "not set in .env.staging, .env or the environment"
UNUSED = "; STAGING_TOKENS and the refused tokens given beside them are unused: the secret wins"


# ---- plan ---------------------------------------------------------------------------------------


def plan_probes(settings: Settings) -> Plan:
    """Resolve URLs, token and TLS; ``SettingsError`` when a required key is missing."""
    ws_url = settings.staging_websocket_url
    if not ws_url:
        raise SettingsError(UNSET, "STAGING_WEBSOCKET_URL", "staging needs the deployment's URL")
    http_url = settings.staging_backend_url or derive_http_url(ws_url)
    dialect = settings.dialect
    if settings.staging_jwt_secret:
        token = mint_token(settings.staging_jwt_secret.reveal(), PROBE_SUBJECT, dialect=dialect)
        auth = f"HS256 token minted from STAGING_JWT_SECRET (sub={PROBE_SUBJECT})"
        given = (settings.staging_expired_token, settings.staging_no_exp_token)
        if settings.staging_tokens or any(given):
            auth += UNUSED
    elif settings.staging_tokens:
        token = settings.staging_tokens[0].reveal()
        auth = f"static token 1 of {len(settings.staging_tokens)} from STAGING_TOKENS"
    else:
        raise SettingsError(UNSET, "STAGING_JWT_SECRET", NO_AUTH)
    needs_tls = ws_url.startswith("wss://") or http_url.startswith("https://")
    return Plan(
        ws_url=ws_url,
        http_url=http_url,
        health_url=http_url.rstrip("/") + (settings.health_path or dialect.health_path),
        bound=settings.staging_probe_timeout,
        auth=auth,
        token=token,
        context=make_tls_context(read_ca_bundle(settings)) if needs_tls else None,
        insecure_ok=settings.staging_allow_insecure_ws,
        secrets=(token, *settings.secrets()),
        hints=HINTS,
        dialect=dialect,
    )


def derive_http_url(ws_url: str) -> str:
    """The health base when STAGING_BACKEND_URL is unset: same host and port as the socket."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def ca_bundle_path(settings: Settings) -> str | None:
    if not settings.staging_ca_bundle:
        return None
    return str((settings.root / settings.staging_ca_bundle).resolve())


def make_tls_context(ca_pem: str | None) -> ssl.SSLContext:
    """Verifying context: hostname checked, system roots or the given CA certificates (PEM)."""
    return ssl.create_default_context(cadata=ca_pem)


# ---- the public steps ---------------------------------------------------------------------------


def probe_staging(
    settings: Settings, log: Log, *, stop_at_first_failure: bool = False
) -> list[ProbeResult]:
    """Wake the deployment, then one result per probe, in order (``wake`` first). Unless
    ``stop_at_first_failure``, a failed health probe does not stop the socket probes (the
    table shows them all)."""
    return run_probes(plan_probes(settings), settings, log, stop_at_first_failure)


def run_probes(
    plan: Plan, settings: Settings, log: Log, stop_at_first_failure: bool = False
) -> list[ProbeResult]:
    log(
        f"Probing staging: WebSocket={redact_url(plan.ws_url)} "
        f"health={redact_url(plan.health_url)} (each probe bounded by {plan.bound:g}s; "
        f"a sleeping deployment is woken for up to {settings.staging_ready_timeout:g}s)"
    )
    try:
        woken = wake(plan, settings.staging_ready_timeout, attempt_probes, log)
    except ProbeError as exc:
        row = ProbeResult("wake", "fail", exc.waited, exc.seen, exc.url, exc)
        _log_result(log, row)
        return [row, *(not_run(plan, probe, "not serving yet") for probe in PROBES)]
    results = woken.results
    if not stop_at_first_failure and results[0].outcome == "fail":
        results = [results[0], *probe_socket(plan)]
    row = ProbeResult("wake", "pass", woken.seconds, woken.describe(), redact_url(plan.health_url))
    for result in (row, *results):
        _log_result(log, result)
    return [row, *results]


def attempt_probes(plan: Plan) -> list[ProbeResult]:
    """One try of every probe, in order, up to the first failure (the rest: not run)."""
    results = [probe_health(plan)]
    if results[0].outcome != "pass":
        why = "health failed"
        return [*results, not_run(plan, "handshake", why), not_run(plan, "ping", why)]
    return [*results, *probe_socket(plan)]


def _log_result(log: Log, result: ProbeResult) -> None:
    if result.outcome != "not run":
        log(
            f"probe {result.probe}: {result.outcome} in {format_seconds(result.seconds)} "
            f"({result.detail})"
        )


def first_failure(results: list[ProbeResult]) -> ProbeError | None:
    return next((r.error for r in results if r.error is not None), None)


def format_probe_table(results: list[ProbeResult]) -> str:
    """A plain-text table: probe, result, time, what it saw."""
    rows = [("probe", "result", "time", "detail")]
    rows += [
        (
            r.probe,
            r.outcome.upper() if r.outcome == "fail" else r.outcome,
            "-" if r.outcome == "not run" else format_seconds(r.seconds),
            r.detail,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


@contextmanager
def serve_staging(settings: Settings, *, log: Log, reason: str) -> Iterator[Target]:
    """Wake the deployment and probe it (a failed probe raises ProbeError), then yield its
    Target; no teardown."""
    plan = plan_probes(settings)
    results = run_probes(plan, settings, log, stop_at_first_failure=True)
    failure = first_failure(results)
    if failure is not None:
        raise failure
    woken, probes = results[0], results[1:]
    facts = {key: value for r in probes for key, value in r.facts.items()}
    details = {
        "health_url": redact_url(plan.health_url),
        "auth": plan.auth,
        "tls": _describe_tls(plan, settings),
        "wake": woken.detail,
        **{f"probe_{r.probe}_s": f"{r.seconds:.3f}" for r in probes},
    }
    if "backend_version" in facts:
        details["version"] = facts["backend_version"]
    log(CONFIGURED.format(url=redact_url(plan.ws_url)))
    yield Target(
        env="staging",
        ws_url=plan.ws_url,
        http_url=plan.http_url,
        reason=reason,
        jwt_secret=settings.staging_jwt_secret,
        tokens=settings.staging_tokens,
        expired_token=settings.staging_expired_token,
        no_exp_token=settings.staging_no_exp_token,
        ca_bundle=ca_bundle_path(settings),
        details=details,
        phases={"wake": woken.seconds},
    )


def _describe_tls(plan: Plan, settings: Settings) -> str:
    if plan.context is None:
        return "none (plain ws/http)"
    bundle = ca_bundle_path(settings)
    return f"verified against {bundle}" if bundle else "verified against the system roots"
