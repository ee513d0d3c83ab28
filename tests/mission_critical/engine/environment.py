"""The suite's target, read once from MC_* environment variables into frozen values.

Nothing else in the suite reads the environment. Every problem is a `UsageError` with one line
naming the variable; secrets and tokens live in `repr=False` fields and never reach a message.
docs/suite.md lists the variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from contract.dialect import MAX_FRAME_LIMIT, DialectError, load_dialect
from contract.files import FileError, read_text_file
from contract.rules import Metric

from .tokens import AuthLimitError, Credential, TokenSource, UsageError, read_tokens

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contract.dialect import Dialect

__all__ = ["AuthLimitError", "Credential", "Settings", "UsageError", "read_settings"]

BUDGET_VARIABLES: dict[Metric, str] = {
    "agent_started": "MC_LATENCY_STARTED_P95",
    "agent_thinking": "MC_LATENCY_THINKING_P95",
    "agent_completed": "MC_LATENCY_COMPLETED_P95",
}
MAX_USERS = 1000
MAX_CONCURRENCY = 1000
MIN_FRAME = 64  # the smallest frame limit the suite can probe exactly (a padded ping)
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
SECRET_QUERY_KEYS = frozenset({"token", "access_token", "jwt", "key", "api_key", "secret"})
QUOTE_LIMIT = 80
NOT_JUDGED_YET = (
    "MC_CONTRACT: dialect {source} speaks the {transport} transport (HTTP POST + Server-Sent "
    "Events), which this suite does not judge yet (docs/dialects.md)"
)


@dataclass(frozen=True)
class Settings:
    ws_url: str = field(repr=False)  # may carry a token in its query; see `redact_url`
    http_url: str = field(repr=False)
    health_path: str
    tokens: TokenSource
    ca_bundle: str | None
    users: int
    timeout: float  # any single wait: connect, greeting, first answer, pong, close, health
    run_timeout: float  # one whole run, from its request to agent_completed
    max_frame: int
    grace: float
    concurrency: int | None  # checks at once; None: all
    allow_skips: bool
    env_name: str
    env_reason: str
    dialect: Dialect
    budgets: Mapping[Metric, float]  # seconds; p95 of the metric must not exceed it
    report_data: Path | None

    @property
    def health_url(self) -> str:
        return self.http_url.rstrip("/") + self.health_path

    def provenance(self) -> dict[str, str]:
        """What the JUnit report records about this run; never a token or secret."""
        return {
            "mc_env": self.env_name,
            "mc_env_reason": self.env_reason,
            "mc_ws_url": redact_url(self.ws_url),
            "mc_health_url": redact_url(self.health_url),
            "mc_dialect": self.dialect.name,
            "mc_dialect_source": self.dialect.source,
            "mc_auth_mode": self.tokens.mode,
            "mc_users": str(self.users),
            "mc_timeout": f"{self.timeout:g}",
            "mc_run_timeout": f"{self.run_timeout:g}",
            "mc_max_frame": str(self.max_frame),
            "mc_grace": f"{self.grace:g}",
            "mc_concurrency": "all" if self.concurrency is None else str(self.concurrency),
            "mc_ca_bundle": self.ca_bundle or "system roots",
            "mc_allow_skips": str(self.allow_skips).lower(),
            **{
                f"mc_budget_{metric}_p95_s": f"{seconds:g}"
                for metric, seconds in self.budgets.items()
            },
        }


def redact_url(url: str) -> str:
    """`url` without userinfo, fragment, or the values of token-like query keys."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [
        (key, "***" if key.lower() in SECRET_QUERY_KEYS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def quote(text: str) -> str:
    """A value as an error message may show it: repr'd, and cut when long."""
    if len(text) <= QUOTE_LIMIT:
        return repr(text)
    return repr(text[:QUOTE_LIMIT]) + f"... ({len(text)} characters)"


def read_url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise UsageError(f"{name} is required (e.g. {name}={schemes[0]}://127.0.0.1:8000/...)")
    shown = quote(redact_url(value)) if "://" in value else "(not a URL)"
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise UsageError(f"{name}={shown} has an invalid host or port") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise UsageError(f"{name}={shown} is not a {' or '.join(schemes)} URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{name}={shown} carries user:password@ credentials; remove them "
            f"(the suite authenticates with MC_JWT_SECRET or MC_TOKENS)"
        )
    return value


def read_number(
    environ: Mapping[str, str], name: str, default: str, low: float, high: float
) -> float:
    text = environ.get(name, "").strip() or default
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}={quote(text)} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise UsageError(f"{name}={quote(text)} is out of range [{low:g}, {high:g}]")
    return value


def read_count(environ: Mapping[str, str], name: str, default: str, low: int, high: int) -> int:
    text = environ.get(name, "").strip() or default
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name}={quote(text)} is not a whole number") from None
    if not low <= value <= high:
        raise UsageError(f"{name}={quote(text)} is out of range [{low}, {high}]")
    return value


def read_flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "").strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise UsageError(f"{name}={quote(text)} is not a boolean (use true or false)")


def read_concurrency(environ: Mapping[str, str]) -> int | None:
    text = environ.get("MC_CONCURRENCY", "").strip().lower()
    if text in {"", "all"}:
        return None
    return read_count(environ, "MC_CONCURRENCY", "all", 1, MAX_CONCURRENCY)


def read_budgets(environ: Mapping[str, str], run_timeout: float) -> dict[Metric, float]:
    budgets: dict[Metric, float] = {}
    for metric, name in BUDGET_VARIABLES.items():
        if environ.get(name, "").strip():
            budgets[metric] = read_number(environ, name, "", 0.001, run_timeout)
    return budgets


def read_dialect(environ: Mapping[str, str]) -> Dialect:
    try:
        dialect = load_dialect(environ.get("MC_CONTRACT", "").strip() or "reference")
    except DialectError as exc:
        raise UsageError(f"MC_CONTRACT: {exc}") from None
    if dialect.transport != "websocket":
        raise UsageError(NOT_JUDGED_YET.format(source=dialect.source, transport=dialect.transport))
    return dialect


def read_ca_bundle(environ: Mapping[str, str]) -> str | None:
    ca_bundle = environ.get("MC_CA_BUNDLE", "").strip() or None
    if ca_bundle is not None:
        try:
            read_text_file(Path(ca_bundle))
        except FileError as exc:
            raise UsageError(f"MC_CA_BUNDLE: {exc}") from None
    return ca_bundle


def derive_http_url(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc.rsplit("@", 1)[-1], "", "", ""))


def read_settings(environ: Mapping[str, str]) -> Settings:
    """The validated target; UsageError naming the first bad variable."""
    dialect = read_dialect(environ)
    ws_url = read_url(environ, "MC_WS_URL", ("ws", "wss"))
    http_url = (
        read_url(environ, "MC_HTTP_URL", ("http", "https"))
        if environ.get("MC_HTTP_URL", "").strip()
        else derive_http_url(ws_url)
    )
    health_path = environ.get("MC_HEALTH_PATH", "").strip() or dialect.health_path
    if not health_path.startswith("/"):
        raise UsageError(f"MC_HEALTH_PATH={quote(health_path)} must start with '/'")
    timeout = read_number(environ, "MC_TIMEOUT", "10", 0.1, 600)
    run_timeout = read_number(environ, "MC_RUN_TIMEOUT", "120", 1, 3600)
    if run_timeout < timeout:
        raise UsageError(
            f"MC_RUN_TIMEOUT={run_timeout:g} is below MC_TIMEOUT={timeout:g}: a whole run "
            f"cannot be bounded tighter than a single wait"
        )
    max_frame = read_count(
        environ, "MC_MAX_FRAME", str(dialect.max_frame), MIN_FRAME, MAX_FRAME_LIMIT
    )
    return Settings(
        ws_url=ws_url,
        http_url=http_url,
        health_path=health_path,
        tokens=read_tokens(environ, dialect),
        ca_bundle=read_ca_bundle(environ),
        users=read_count(environ, "MC_USERS", "25", 1, MAX_USERS),
        timeout=timeout,
        run_timeout=run_timeout,
        max_frame=max_frame,
        grace=read_number(environ, "MC_GRACE", "1", 0, timeout),
        concurrency=read_concurrency(environ),
        allow_skips=read_flag(environ, "MC_ALLOW_SKIPS"),
        env_name=environ.get("MC_ENV", "").strip() or "unset",
        env_reason=environ.get("MC_ENV_REASON", "").strip() or "unset",
        dialect=dialect,
        budgets=read_budgets(environ, run_timeout),
        report_data=Path(p) if (p := environ.get("MC_REPORT_DATA", "").strip()) else None,
    )
