"""The Target: what the suite is aimed at, and how it travels to the suite (environment variables).

The suite reads nothing else, so anyone can aim it at any backend by setting the same variables
by hand (docs/suite.md lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tasks.settings import EnvName, Secret, Settings


@dataclass(frozen=True)
class Target:
    env: EnvName
    ws_url: str
    http_url: str
    reason: str  # why this environment was judged
    jwt_secret: Secret | None = None
    tokens: tuple[Secret, ...] = ()
    ca_bundle: str | None = None
    details: dict[str, str] = field(default_factory=dict)  # e.g. compose variant, container ids

    def to_env(self, settings: Settings) -> dict[str, str]:
        """The suite's variables for this target (secrets included: for the child only)."""
        env = {
            "MC_ENV": self.env,
            "MC_ENV_REASON": self.reason,
            "MC_WS_URL": self.ws_url,
            "MC_HTTP_URL": self.http_url,
            "MC_USERS": str(settings.users),
            "MC_TIMEOUT": f"{settings.timeout:g}",
            "MC_ALLOW_SKIPS": "true" if settings.allow_skips else "false",
        }
        if self.jwt_secret:
            env["MC_JWT_SECRET"] = self.jwt_secret.reveal()
        if self.tokens:
            env["MC_TOKENS"] = ",".join(t.reveal() for t in self.tokens)
        if self.ca_bundle:
            env["MC_CA_BUNDLE"] = self.ca_bundle
        return env


_SECRET_QUERY_KEYS = {"token", "access_token", "jwt", "key", "api_key", "secret", "password"}


def redact_url(url: str) -> str:
    """The URL with any userinfo and token-like query values replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = [
        (k, "***" if k.lower() in _SECRET_QUERY_KEYS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))
