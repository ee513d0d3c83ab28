"""The mission-critical suite's plumbing: target from the environment, the runner, verdict rules.

- The environment is read and validated once, when the suite's tests are collected; a bad or
  missing variable stops the run with a usage error (exit code 4), never a skip or a pass.
- Every selected check is a scenario of one `Runner` (runner.py): the first check's call runs
  them all at once, and each item then reports its own outcome: a `[rule] ...` failure without
  a traceback, a skip, or a pass.
- A skipped test of this suite fails the session unless MC_ALLOW_SKIPS is true.
- Provenance (environment, reason, dialect, URLs without secrets) goes into the JUnit report,
  and the data file (MC_REPORT_DATA) is written when the scenarios are done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from contract.visible import show

from .engine.check import Check
from .engine.client import ContractError
from .engine.environment import Settings, UsageError, read_settings
from .engine.latency import format_summary
from .engine.report_data import build, write
from .engine.runner import NOT_REPORTED, Runner, check_signature

if TYPE_CHECKING:
    from collections.abc import Callable

SUITE_DIR = Path(__file__).resolve().parent
SETTINGS_KEY = pytest.StashKey[Settings]()
RUNNER_KEY = pytest.StashKey[Runner]()
SKIPS_FAIL = (
    "mission-critical: {count} test(s) skipped, and a skipped check is an unchecked rule; "
    "the run FAILS (set what the skip reasons name, or MC_ALLOW_SKIPS=true to accept skips)"
)
SKIPPED: list[str] = []  # "nodeid: reason" of every skipped test of this suite
NO_VERDICT = (
    "mission-critical: the check returned without reaching its verdict, so it judged nothing "
    "(every check must judge what it saw: mc.judge, mc.add or mc.judge_later)"
)
NO_TRACE = (
    "--trace cannot step into the checks: they all run at once, in one event loop, before the "
    "first one reports (to debug one, run it alone with -k and put a breakpoint() in it)"
)


def in_suite(path: str | os.PathLike[str]) -> bool:
    return Path(path).resolve().is_relative_to(SUITE_DIR)


def usage_exit(message: str) -> None:
    pytest.exit(f"mission-critical usage error: {message}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: deselected checks need no target
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Read the target once, before any check runs, and hand the selected checks to a Runner."""
    suite = [item for item in items if in_suite(item.path)]
    if not suite:
        return
    if config.getoption("trace", default=False):
        usage_exit(NO_TRACE)
        return
    try:
        settings = read_settings(os.environ)
    except UsageError as exc:
        usage_exit(str(exc))
        return
    config.stash[SETTINGS_KEY] = settings
    unbudgeted = [item for item in suite if unbudgeted_metric(item, settings)]
    if unbudgeted:
        config.hook.pytest_deselected(items=unbudgeted)
        items[:] = [item for item in items if item not in unbudgeted]
    checks = [item for item in items if in_suite(item.path)]
    functions = [item for item in checks if isinstance(item, pytest.Function)]
    problems = [p for item in functions if (p := check_signature(item))]
    if problems or len(functions) != len(checks):
        usage_exit(problems[0] if problems else "every check of the suite must be a function")
        return
    config.stash[RUNNER_KEY] = Runner(settings, functions)


def unbudgeted_metric(item: pytest.Item, settings: Settings) -> bool:
    """A latency check whose metric has no budget: deselected (it would judge nothing)."""
    if item.get_closest_marker("latency_budget") is None or not hasattr(item, "callspec"):
        return False
    return item.callspec.params.get("metric") not in settings.budgets


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A check's verdict is its scenario's outcome (the first call runs every scenario)."""
    runner = pyfuncitem.config.stash.get(RUNNER_KEY, None)
    if runner is None or not in_suite(pyfuncitem.path):
        return None
    first = runner.outcomes is None
    outcome = runner.outcome(pyfuncitem.nodeid)
    if first:
        write_data_file(pyfuncitem.config, runner)
    if outcome.skipped is not None:
        pytest.skip(outcome.skipped)
    if outcome.crashed is not None:
        pytest.fail(f"mission-critical: {outcome.crashed}", pytrace=False)
    if outcome.violations:
        pytest.fail(str(ContractError(outcome.violations, outcome.context)), pytrace=False)
    if not outcome.judged:
        pytest.fail(NO_VERDICT, pytrace=False)
    return True


def write_data_file(config: pytest.Config, runner: Runner) -> None:
    settings = config.stash[SETTINGS_KEY]
    if settings.report_data is None or runner.outcomes is None:
        return
    names = {item.nodeid: item.name for item in runner.items}
    rules = {item.nodeid: rules_of(item) for item in runner.items}
    write(settings.report_data, build(runner, runner.outcomes, names, rules))


def rules_of(item: pytest.Item) -> tuple[str, ...]:
    marker = item.get_closest_marker("rules")
    return tuple(marker.args) if marker is not None else ()


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
    runner = terminalreporter.config.stash.get(RUNNER_KEY, None)
    version = runner.backend_version if runner is not None else NOT_REPORTED
    version = version if version == NOT_REPORTED else show(version)
    terminalreporter.write_sep("-", "mission-critical target")
    terminalreporter.write_line(
        f"env={facts['mc_env']} ({facts['mc_env_reason']}); ws={facts['mc_ws_url']}; "
        f"health={facts['mc_health_url']}; dialect={facts['mc_dialect']}; "
        f"auth={facts['mc_auth_mode']}; users={facts['mc_users']}; backend version={version}"
    )
    if runner is not None and runner.outcomes is not None:
        heavy = sum(1 for check in runner.checks.values() if check.phase == "heavy")
        after = f"; {heavy} heavy after the others" if heavy else ""
        terminalreporter.write_line(
            f"{len(runner.items)} checks ran at once (concurrency {facts['mc_concurrency']}"
            f"{after}) in {runner.wall:.2f} s; latency from each request of the timed runs:"
        )
        for line in format_summary(runner.latency).splitlines():
            terminalreporter.write_line(f"  {line}")
    if SKIPPED and not settings.allow_skips:
        terminalreporter.write_line(SKIPS_FAIL.format(count=len(SKIPPED)), red=True, bold=True)
        for line in SKIPPED:
            terminalreporter.write_line(f"  skipped: {line}", red=True)


@pytest.fixture(scope="session", autouse=True)
def record_provenance(
    pytestconfig: pytest.Config, record_testsuite_property: Callable[[str, object], None]
) -> None:
    """Which environment was judged and why, in the JUnit report (no token, no secret)."""
    settings = pytestconfig.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return
    for name, value in settings.provenance().items():
        record_testsuite_property(name, value)
    runner = pytestconfig.stash.get(RUNNER_KEY, None)
    if runner is not None:
        runner.record_property = record_testsuite_property


@pytest.fixture
def mc(request: pytest.FixtureRequest) -> Check:
    """The check's own context; the runner runs the scenario with it (see runner.py)."""
    return request.config.stash[RUNNER_KEY].checks[request.node.nodeid]
