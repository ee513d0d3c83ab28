"""The team's own backend, judged locally as a team would: `nox -s mission_critical-local` with
MC_LOCAL_COMMAND (uvicorn, one worker or two) in its profile, and nothing else changed.

It passes the whole suite; its seeded fault fails naming its rule; SIGTERM and SIGHUP during the
suite stop its whole process group (the workers too). Bad commands are rows of
test_bad_input.py; the readiness loop itself is test_readiness.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tasks.environments.local import serve_local
from tasks.environments.local.process import group_members
from tasks.settings import load_settings
from tasks.settings.errors import BringUpError
from tests.integration.docker_support import SECRET, SIGNAL_EXIT_BOUND, NoxRun
from tests.integration.team_backend import FAULT_RULE, READY, ROOT, group_gone, local_profile

SESSION = "mission_critical-local"
NOX_BOUND = 300.0  # a first run creates the session's venv


def summary_of(run: NoxRun, tmp_path: Path) -> dict[str, object]:
    [path] = [p for p in (tmp_path / "reports").glob("*.json") if ".suite" not in p.suffixes]
    return dict(json.loads(path.read_text()))


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "workers-2"])
def test_the_team_command_passes_and_leaves_no_process(tmp_path: Path, workers: int) -> None:
    run = NoxRun(tmp_path, SESSION, **local_profile(workers=workers))
    run.wait_for(r"collected \d+ items", NOX_BOUND)
    pid = int(READY.findall(run.text())[0])
    members = group_members(pid)
    # uvicorn, and with --workers its workers (and multiprocessing's resource tracker)
    assert len(members) >= (1 + workers if workers > 1 else 1), members
    code = run.finish()
    out = run.text()
    assert code == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    assert group_gone(pid), f"the team's backend (group {pid}) outlived the run"
    summary = summary_of(run, tmp_path)
    counts = summary["counts"]
    assert isinstance(counts, dict)
    assert counts["tests"] > 0  # every check the dialect has, whatever their number
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0
    assert str(summary["backend"]).startswith("command: ")
    assert "-m uvicorn app:app --host {host} --port {port}" in str(summary["backend"])
    assert "(cwd tests/team_backend)" in str(summary["backend"])
    assert summary["backend_version"] == "team-1.0.0"
    junit = Path(str(summary["junit_path"])).read_text()
    assert 'name="mc_backend" value="command: ' in junit
    details = summary["details"]
    assert isinstance(details, dict)
    log = Path(details["service_log"])
    assert "Uvicorn running on" in log.read_text()  # its output, kept under the report dir
    for text in (out, log.read_text(), Path(str(summary["html_path"])).read_text()):
        assert SECRET not in text
    assert "command: " in Path(str(summary["html_path"])).read_text()


@pytest.mark.slow
def test_the_team_commands_seeded_fault_fails_naming_its_rule(tmp_path: Path) -> None:
    run = NoxRun(tmp_path, SESSION, **local_profile(fault="reorder"))
    code = run.finish()
    out = run.text()
    assert code != 0
    assert f"[{FAULT_RULE}]" in out
    assert "expected agent_started first, got agent_thinking first" in out
    assert "mission-critical gate: FAILED" in out
    pid = int(READY.findall(out)[0])
    assert group_gone(pid)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_the_suite_stops_the_whole_group(
    tmp_path: Path, signum: signal.Signals
) -> None:
    run = NoxRun(tmp_path, SESSION, **local_profile(workers=2))
    run.wait_for(r"collected \d+ items", NOX_BOUND)
    pid = int(READY.findall(run.text())[0])
    assert len(group_members(pid)) >= 3  # uvicorn and its two workers
    if signum == signal.SIGHUP:
        os.killpg(run.process.pid, signum)  # a dropped ssh: the shell signals its job's group
    else:
        run.process.send_signal(signum)  # a CI runner's `kill`: the nox process only
    start = time.monotonic()
    code = run.finish(SIGNAL_EXIT_BOUND)
    assert code != 0
    assert time.monotonic() - start < SIGNAL_EXIT_BOUND
    assert group_gone(pid), f"{group_members(pid)} of the team's backend outlived {signum.name}"


def marked(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (a command the gate started, still there)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


PY = sys.executable
# (id, settings, the key named, what the first line says, what the last log lines show)
BAD_COMMANDS = [
    ("not-found", {"MC_LOCAL_COMMAND": "no-such-backend --port {port}"}, "MC_LOCAL_COMMAND",
     "MC_LOCAL_COMMAND: 'no-such-backend' was not found (not on PATH, nor relative to", ""),
    ("not-executable", {"MC_LOCAL_COMMAND": "./app.py --port {port}",
                        "MC_LOCAL_CWD": "tests/team_backend"}, "MC_LOCAL_COMMAND",
     "MC_LOCAL_COMMAND: './app.py' is not executable", ""),
    ("exits-at-once", {"MC_LOCAL_COMMAND": f"{PY} -c 'import sys; sys.exit(\"no db {{port}}\")'"},
     "MC_LOCAL_COMMAND", ("the team's command (MC_LOCAL_COMMAND) exited with code 1 before it "
     "was ready"), "no db"),
    ("never-ready", {"MC_LOCAL_COMMAND": f"{PY} -c 'print(\"booting\", {{port}}, flush=True); "
                     "import time; time.sleep(60)'", "MC_LOCAL_READY_TIMEOUT": "1"},
     "MC_LOCAL_COMMAND", ("the team's command (MC_LOCAL_COMMAND) not ready within 1s (last "
     "probe: health: connection refused)"), "booting"),
    ("refuses-the-token", {**local_profile(), "MC_LOCAL_SECRET_ENV": "SOME_OTHER_NAME",
                           "JWT_SECRET_KEY": "not-the-gates-secret-0123456789abcdef",
                           "MC_LOCAL_READY_TIMEOUT": "30"}, "MC_LOCAL_SECRET_ENV",
     ("refused the readiness probe, which will not change: handshake: handshake refused with "
     "HTTP 403 (the token was rejected: the command gets MC_JWT_SECRET's value in "
     "$SOME_OTHER_NAME"), "Uvicorn running"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "key", "says", "logged"),
    [case[1:] for case in BAD_COMMANDS],
    ids=[case[0] for case in BAD_COMMANDS],
)
def test_a_bad_command_is_one_clear_error_and_leaves_nothing_running(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    key: str,
    says: str,
    logged: str,
) -> None:
    marker = f"MC_TEST_MARKER_{os.getpid()}_{time.monotonic_ns()}"
    monkeypatch.setenv(marker, "1")  # inherited by what the gate starts
    for name in ("JWT_SECRET_KEY",):
        if name in environ:
            monkeypatch.setenv(name, environ[name])
    gate_keys = {k: v for k, v in environ.items() if k.startswith("MC_")}
    settings = load_settings(
        ROOT, {"MC_REPORT_DIR": str(tmp_path), "MC_JWT_SECRET": SECRET, **gate_keys}
    )
    start = time.monotonic()
    with (
        pytest.raises(BringUpError) as caught,
        serve_local(settings, python=sys.executable, log=print, reason="test"),
    ):
        pytest.fail("a bad command came up")
    took = time.monotonic() - start
    first, *rest = str(caught.value).splitlines()
    assert key in first
    assert says in first, first
    assert logged in "\n".join(rest)
    assert SECRET not in str(caught.value)
    assert took < 10, f"took {took:.1f}s"  # never the bound of a definitive refusal (30 s)
    assert marked(marker) == [], "the bad command left a process running"
