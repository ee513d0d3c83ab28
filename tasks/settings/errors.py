"""Every error the harness raises on purpose.

    GateError                    anything the gate reports as a one-line verdict, never a traceback
    ├── SettingsError            a profile or variable is wrong: file, line, key, what was wrong
    ├── OutputError              a file or folder the gate writes cannot be written: which, why
    ├── ArgumentError            a pytest argument would undo what the gate relies on
    ├── UnavailableError         an environment cannot be used here (no daemon, no compose, ...)
    ├── NoEnvironmentError       auto found no candidate; lists each candidate and why
    ├── RequiredEnvironmentError MC_REQUIRE_ENV names an environment auto did not pick
    ├── BringUpError             an environment was usable but did not come up (or died)
    ├── ProbeError               a staging probe failed: which, what it saw, how long it waited
    └── VerdictError             the suite ran and the backend failed (or nothing was judged)

Exceptions keep their fields and build their message in ``__str__``, so callers can both print
them and inspect them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.settings.quoting import quote


class GateError(Exception):
    """Base class: ``str(exc)`` is the whole user-facing message."""


@dataclass
class SettingsError(GateError):
    where: str  # "file .env.docker, line 3" or "environment variable MC_USERS"
    key: str  # "" when a whole file is wrong (not UTF-8, not a regular file, ...)
    problem: str

    def __str__(self) -> str:
        if not self.key:
            return f"bad settings {self.where}: {self.problem}"
        return f"bad setting {self.key} ({self.where}): {self.problem}"


@dataclass
class OutputError(GateError):
    what: str  # "the reports (MC_REPORT_DIR)"
    path: str
    problem: str

    def __str__(self) -> str:
        return f"cannot write {self.what} at {self.path}: {self.problem}"


@dataclass
class ArgumentError(GateError):
    argument: str
    problem: str

    def __str__(self) -> str:
        return f"bad pytest argument {quote(self.argument)}: {self.problem}"


@dataclass
class UnavailableError(GateError):
    env: str
    reason: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.env} environment unavailable: {self.reason}"
        return f"{text}. {self.hint}" if self.hint else text


@dataclass
class NoEnvironmentError(GateError):
    headline: str
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [self.headline, *(f"  - {env}: {why}" for env, why in self.rejected)]
        return "\n".join(lines)


@dataclass
class RequiredEnvironmentError(GateError):
    required: tuple[str, ...]
    chosen: str
    why: str

    def __str__(self) -> str:
        need = ", ".join(self.required)
        return f"MC_REQUIRE_ENV={need} but the run would judge {self.chosen} ({self.why})"


@dataclass
class BringUpError(GateError):
    env: str
    problem: str
    detail: str = ""
    log_path: str | None = None

    def __str__(self) -> str:
        text = f"{self.env} environment did not come up: {self.problem}"
        if self.detail:
            text += "\n" + self.detail.rstrip()
        if self.log_path:
            text += f"\nfull logs: {self.log_path}"
        return text


@dataclass
class ProbeError(GateError):
    probe: str
    seen: str
    waited: float
    url: str = ""

    def __str__(self) -> str:
        at = f" at {self.url}" if self.url else ""
        return f"probe {self.probe} failed{at} after {self.waited:.2f}s: {self.seen}"


@dataclass
class VerdictError(GateError):
    env: str
    problem: str

    def __str__(self) -> str:
        return f"mission-critical gate FAILED on {self.env}: {self.problem}"
