"""One gate run: settings -> choice -> bring-up -> the suite -> report -> teardown (always).

``judge`` is what every ``mission_critical-*`` session calls. It returns the summary of a passing
run and raises ``GateError`` for everything else: a run that reaches no backend, or that runs no
test, or skips one (unless allowed), fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from tasks import environments, report
from tasks.environments import choose
from tasks.report.outputs import REPORTS, check_outputs, writing
from tasks.settings import KEYS, EnvName, Settings, load_settings
from tasks.settings.errors import (
    ArgumentError,
    BringUpError,
    GateError,
    OutputError,
    ProbeError,
    VerdictError,
)
from tasks.settings.quoting import quote
from tasks.signals import terminate_as_interrupt
from tasks.target import Target, redact_url

Log = Callable[[str], None]
SUITE = "tests/mission_critical"
SUITE_PACKAGE = "tests.mission_critical"  # the suite's testcases in the JUnit report
SUITE_STOP_GRACE = 5.0
OWN_REPORT = "the gate writes the suite's JUnit report itself, to MC_REPORT_DIR; drop it"


class _Clock:
    def __init__(self, phases: dict[str, float]) -> None:
        self.phases = phases

    def add(self, name: str, since: float, *, parts: Mapping[str, float] | None = None) -> None:
        """``name`` took from ``since`` to now, less its ``parts`` (timed phases of their own,
        shown before it, e.g. staging's wake)."""
        took = time.perf_counter() - since
        for part, seconds in (parts or {}).items():
            self.phases[part] = self.phases.get(part, 0.0) + seconds
            took -= seconds
        self.phases[name] = self.phases.get(name, 0.0) + max(0.0, took)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, start)


def judge(
    requested: choose.Requested,
    *,
    python: str = sys.executable,
    log: Log = print,
    posargs: Sequence[str] = (),
    root: Path | None = None,
    environ: dict[str, str] | None = None,
) -> report.Summary:
    summary = report.Summary(requested=requested, pytest_args=list(posargs))
    addopts = os.environ.get("PYTEST_ADDOPTS", "").strip()  # the suite's child inherits it
    if addopts:
        summary.pytest_args.insert(0, f"PYTEST_ADDOPTS={quote(addopts)}")
    clock = _Clock(summary.phases)
    with terminate_as_interrupt():
        with clock.phase("settings"):
            settings = load_settings(root, environ)
            check_pytest_args([*addopts.split(), *posargs])
            check_outputs(settings, choose.candidates(requested, settings))
            environments.check_inputs(settings, choose.candidates(requested, settings))
        summary.dialect = f"{settings.dialect.name} ({settings.dialect.source})"
        with clock.phase("choice"):
            decision = choose.choose_environment(
                requested, settings, lambda env: environments.observe(env, settings)
            )
        for note in decision.notes:
            log(note)
        summary.rejected = [(o.env, o.reason) for o in decision.considered if not o.usable]
        candidates: list[EnvName] = [decision.env]
        if settings.fallback_on == "any":
            candidates += list(decision.fallbacks)
        reason = decision.reason
        for index, env in enumerate(candidates):
            if index:  # MC_FALLBACK_ON=any: a failed bring-up moves on, announced
                seen = environments.observe(env, settings)
                if not seen.usable:
                    summary.rejected.append((env, seen.reason))
                    continue
                reason = f"{seen.reason}; earlier candidates failed to start"
            summary.env, summary.reason = env, reason
            log(f"judging the {env} environment: {reason}")
            try:
                _run_once(env, settings, summary, clock, python=python, log=log, posargs=posargs)
            except (BringUpError, ProbeError) as exc:
                rest = candidates[index + 1 :]
                if not rest:
                    raise
                summary.rejected.append((env, f"failed to start: {str(exc).splitlines()[0]}"))
                log(f"WARNING: {env} failed to start - trying {rest[0]} (MC_FALLBACK_ON=any)")
                continue
            break
    return summary


def _run_once(
    env: EnvName,
    settings: Settings,
    summary: report.Summary,
    clock: _Clock,
    *,
    python: str,
    log: Log,
    posargs: Sequence[str],
) -> None:
    with writing(REPORTS, settings.report_dir):
        settings.report_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = settings.report_dir / f"mission_critical-{env}-{stamp}-{os.getpid()}"
    junit, json_path, html = (base.with_suffix(s) for s in (".xml", ".json", ".html"))
    summary.junit_path, summary.json_path, summary.html_path = str(junit), str(json_path), str(html)
    summary.suite_data_path = str(suite_data_file(junit))
    started, up = time.perf_counter(), False
    secrets, data = settings.secrets(), None
    summary.backend = environments.describe_backend(env, settings)
    try:
        # Each serve_* tears down in its own finally, shielded from a second signal.
        with environments.serve(
            env, settings, python=python, log=log, reason=summary.reason
        ) as target:
            clock.add("bring-up", started, parts=target.phases)
            up = True
            summary.ws_url = redact_url(target.ws_url)
            summary.http_url = redact_url(target.http_url)
            summary.backend = target.backend or summary.backend
            summary.details = dict(target.details)
            secrets += target.secrets()
            with clock.phase("suite"):
                code = run_suite(python, target, settings, junit, posargs, log, _scrubber(secrets))
            started = time.perf_counter()  # teardown runs as the block exits
        clock.add("teardown", started)
        data = _take_data(summary, junit, _scrubber(secrets), ran=True)
        _conclude(summary, settings, code, junit, data)
    except GateError as exc:
        if not up:  # a wake that never ended is a phase of its own, as when it ends
            woke = (
                {"wake": exc.waited} if isinstance(exc, ProbeError) and exc.probe == "wake" else {}
            )
            clock.add("bring-up", started, parts=woke)
        summary.verdict, summary.problem = "FAILED", str(exc).splitlines()[0]
        raise
    finally:
        unwritten = None
        if summary.junit_path:
            scrub = _scrubber(secrets)
            if data is None:  # bring-up failed, or the run was interrupted
                data = _take_data(summary, junit, scrub, ran="suite" in summary.phases)
            unwritten = _write_reports(summary, junit, json_path)
            try:
                report.write_page(summary, data, html, scrub)
            except OSError as exc:
                summary.html_path = ""
                log(f"note: the HTML report was not written ({html}: {exc.strerror})")
        if summary.verdict != "not judged":
            log(summary.as_text())
        if unwritten and sys.exc_info()[1] is not None:  # the error in flight is the verdict
            log(f"WARNING: {unwritten}")
    if unwritten:
        raise unwritten


def _write_reports(summary: report.Summary, junit: Path, json_path: Path) -> OutputError | None:
    try:
        with writing(REPORTS, json_path.parent):
            report.add_junit_properties(junit, summary.properties())
            report.write_json(summary, json_path)
    except OutputError as exc:
        return exc
    return None


def check_pytest_args(args: Sequence[str]) -> None:
    """Refuse the pytest arguments that would quietly take the gate's own report away."""
    for index, arg in enumerate(args):
        if arg.split("=", 1)[0] in {"--junitxml", "--junit-xml"}:
            raise ArgumentError(arg, OWN_REPORT)
        plugin = arg[2:] if arg.startswith("-p") and len(arg) > 2 else ""
        if arg == "-p" and index + 1 < len(args):
            plugin = args[index + 1]
        if plugin.strip() == "no:junitxml":
            raise ArgumentError(f"-p {plugin}", OWN_REPORT)


def suite_data_file(junit: Path) -> Path:
    """Where the suite writes its data file (MC_REPORT_DATA): next to the JUnit XML."""
    return junit.with_suffix(".suite.json")


def _take_data(
    summary: report.Summary, junit: Path, scrub: Callable[[str], str], *, ran: bool
) -> report.SuiteData:
    """Read the suite's data file and put its latency figures into the summary.

    The file is uploaded with the other reports, so it is scrubbed in place first (the suite
    scrubs what it writes; this is the second line of defence).
    """
    path = suite_data_file(junit)
    with suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="utf-8")
        if (clean := scrub(text)) != text:
            path.write_text(clean, encoding="utf-8")
    data = report.load_suite_data(path, junit, scrub, ran=ran)
    summary.suite_data_problem = data.problem
    summary.latency = report.latency_facts(data.latency)
    return data


def _conclude(
    summary: report.Summary, settings: Settings, code: int, junit: Path, data: report.SuiteData
) -> None:
    counts, props = report.read_junit(junit)
    summary.counts = counts
    summary.backend_version = report.reported_version(
        data.target.get("backend_version", ""),
        props.get("backend_version", ""),
        summary.details.get("version", ""),
    )
    problem = ""
    inside, outside = report.count_testcases(junit, SUITE_PACKAGE)
    if code == 5 or counts.tests == 0 or inside == 0:
        problem = "no test ran: a gate that judges nothing must not pass"
    elif outside:
        problem = (
            f"{outside} test(s) outside {SUITE} ran: the gate's verdict is the suite's alone "
            f"(drop the extra paths from the pytest arguments)"
        )
    elif counts.skipped and not settings.allow_skips:
        problem = f"{counts.skipped} test(s) skipped (set MC_ALLOW_SKIPS=true to accept skips)"
    elif code != 0 or counts.failures or counts.errors:
        problem = f"{counts.failures + counts.errors} check(s) failed (pytest exit code {code})"
        if rules := report.broken_rules(data.checks):
            problem += f", breaking {', '.join(rules)}"
    # The suite judges its budgets (rule `latency`); its data names them, so the verdict does too.
    problem = "; ".join(filter(None, [problem, *report.budget_breaches(summary.latency)]))
    summary.verdict = "FAILED" if problem else "PASSED"
    summary.problem = problem
    if problem:
        raise VerdictError(summary.env, problem)


def run_suite(
    python: str,
    target: Target,
    settings: Settings,
    junit: Path,
    posargs: Sequence[str],
    log: Log,
    scrub: Callable[[str], str],
) -> int:
    """pytest on the suite as a child; its output is passed through with secrets scrubbed."""
    env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("MC_")}
    env.update(target.to_env(settings))
    env["MC_REPORT_DATA"] = str(suite_data_file(junit))
    env["PYTHONUNBUFFERED"] = "1"
    command = [python, "-m", "pytest", SUITE, "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if sys.stdout.isatty():
        command.append("--color=yes")
    command += list(posargs)
    log(f"running the suite against {redact_url(target.ws_url)}")
    process = subprocess.Popen(  # no stdin: a --pdb or --trace in posargs must not wait forever
        command,
        cwd=settings.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        for raw in iter(process.stdout.readline, b""):
            sys.stdout.write(scrub(raw.decode(errors="replace")))
            sys.stdout.flush()
        return process.wait()
    finally:
        if process.poll() is None:  # interrupted: give pytest a moment, then make sure
            process.terminate()
            try:
                process.wait(timeout=SUITE_STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


def _scrubber(values: Sequence[str]) -> Callable[[str], str]:
    secrets = sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for value in secrets:
            text = text.replace(value, "***")
        return text

    return scrub
