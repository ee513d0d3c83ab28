"""The mission-critical suite's plumbing: target from the environment, fixtures, verdict rules.

- The environment is read and validated once, when the suite's tests are collected; a bad or
  missing variable stops the run with a usage error (exit code 4), never a skip or a pass.
- A skipped test of this suite fails the session unless MC_ALLOW_SKIPS is true.
- A `ContractError` from a test becomes a plain failure whose first line is `[rule] ...`.
- Provenance (environment, reason, URLs without secrets) goes into the JUnit report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contract.routing import Ledger

from .client import VERDICTS, ContractError, Endpoint, make_ssl_context
from .environment import AuthLimitError, Credential, Settings, UsageError, read_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

SUITE_DIR = Path(__file__).resolve().parent
SETTINGS_KEY = pytest.StashKey[Settings]()
VERSION_KEY = pytest.StashKey[str]()
SKIPS_FAIL = (
    "mission-critical: {count} test(s) skipped, and a skipped check is an unchecked rule; "
    "the run FAILS (set what the skip reasons name, or MC_ALLOW_SKIPS=true to accept skips)"
)
SKIPPED: list[str] = []  # "nodeid: reason" of every skipped test of this suite
NO_VERDICT = (
    "mission-critical: the check returned without reaching its verdict, so it judged nothing "
    "(a --trace debugger without a terminal quits at once and skips the test's body)"
)


def in_suite(path: str | os.PathLike[str]) -> bool:
    return Path(path).resolve().is_relative_to(SUITE_DIR)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: deselected checks need no target
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Read the target once, before any test of the suite runs; stop on a usage error."""
    if not any(in_suite(item.path) for item in items):
        return
    try:
        config.stash[SETTINGS_KEY] = read_settings(os.environ)
    except UsageError as exc:
        pytest.exit(f"mission-critical usage error: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A broken rule is a plain failure: its `[rule] ...` lines, no traceback. A check of the
    suite that returns without reaching its verdict (`require_clean`) fails: it judged nothing."""
    before = VERDICTS.reached
    try:
        result = yield
    except ContractError as exc:
        message = str(exc)
    else:
        if not in_suite(item.path) or VERDICTS.reached > before:
            return result
        message = NO_VERDICT
    pytest.fail(message, pytrace=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and in_suite(report.fspath):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    settings = session.config.stash.get(SETTINGS_KEY, None)
    if SKIPPED and settings is not None and not settings.allow_skips and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    settings = terminalreporter.config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return
    facts = settings.provenance()
    version = terminalreporter.config.stash.get(VERSION_KEY, "not reported")
    terminalreporter.write_sep("-", "mission-critical target")
    terminalreporter.write_line(
        f"env={facts['mc_env']} ({facts['mc_env_reason']}); ws={facts['mc_ws_url']}; "
        f"health={facts['mc_health_url']}; auth={facts['mc_auth_mode']}; "
        f"users={facts['mc_users']}; backend version={version}"
    )
    if SKIPPED and not settings.allow_skips:
        terminalreporter.write_line(SKIPS_FAIL.format(count=len(SKIPPED)), red=True, bold=True)
        for line in SKIPPED:
            terminalreporter.write_line(f"  skipped: {line}", red=True)


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    """The validated target (read at collection; see pytest_collection_modifyitems)."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session", autouse=True)
def record_provenance(
    record_testsuite_property: Callable[[str, object], None], settings: Settings
) -> None:
    """Which environment was judged and why, in the JUnit report (no token, no secret)."""
    for name, value in settings.provenance().items():
        record_testsuite_property(name, value)


@pytest.fixture(scope="session")
def endpoint(settings: Settings) -> Endpoint:
    return Endpoint(
        ws_url=settings.ws_url,
        ssl_context=make_ssl_context(settings.ws_url, settings.ca_bundle),
        timeout=settings.timeout,
        grace=settings.grace,
        max_frame=settings.max_frame,
    )


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    """Every run the suite started, across tests: who owns a message that names a run."""
    return Ledger()


@pytest.fixture
def users(settings: Settings) -> Callable[[int, str], tuple[Credential, ...]]:
    """`users(count, tag)`: that many distinct test users, or a skip naming what to set."""

    def make(count: int, tag: str) -> tuple[Credential, ...]:
        try:
            return settings.tokens.users(count, tag)
        except AuthLimitError as exc:
            pytest.skip(str(exc))

    return make


@pytest.fixture
def record_version(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Remember the backend's version for the terminal summary."""

    def record(version: str) -> None:
        pytestconfig.stash[VERSION_KEY] = version

    return record
