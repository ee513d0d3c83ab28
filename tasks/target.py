"""The Target: what the suite is aimed at, and how it travels to the suite (environment variables).

The suite reads nothing else, so anyone can aim it at any backend by setting the same variables
by hand (docs/suite.md lists them). Its tuning variables are harness keys of the same name
(``Key.suite`` in tasks/settings/), forwarded here as validated; the rest come from the Target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.settings import EnvName, Secret, Settings
from tasks.settings.quoting import redact_url

__all__ = ["Target", "redact_url"]


@dataclass(frozen=True)
class Target:
    env: EnvName
    ws_url: str
    http_url: str
    reason: str  # why this environment was judged
    backend: str = ""  # whose backend: the reference one, the team's command, stack or URL
    jwt_secret: Secret | None = None
    tokens: tuple[Secret, ...] = ()
    expired_token: Secret | None = None
    no_exp_token: Secret | None = None
    ca_bundle: str | None = None
    details: dict[str, str] = field(default_factory=dict)  # e.g. compose variant, container ids
    phases: dict[str, float] = field(default_factory=dict)  # parts of bring-up, timed (s): wake

    def to_env(self, settings: Settings) -> dict[str, str]:
        """The suite's variables for this target (secrets included: for the child only)."""
        env = {
            "MC_ENV": self.env,
            "MC_ENV_REASON": self.reason,
            "MC_WS_URL": self.ws_url,
            "MC_HTTP_URL": self.http_url,
            **settings.suite_env(),
        }
        if self.jwt_secret:
            env["MC_JWT_SECRET"] = self.jwt_secret.reveal()
        if self.tokens:
            env["MC_TOKENS"] = ",".join(t.reveal() for t in self.tokens)
        if self.expired_token:
            env["MC_EXPIRED_TOKEN"] = self.expired_token.reveal()
        if self.no_exp_token:
            env["MC_NO_EXP_TOKEN"] = self.no_exp_token.reveal()
        if self.ca_bundle:
            env["MC_CA_BUNDLE"] = self.ca_bundle
        return env

    def secrets(self) -> list[str]:
        """The secret values this target hands the suite, for scrubbing its output."""
        held = (self.jwt_secret, *self.tokens, self.expired_token, self.no_exp_token)
        return [value.reveal() for value in held if value is not None]
