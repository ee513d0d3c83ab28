"""The nox sessions end to end, as a user runs them: real nox, real processes, real sockets."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tasks.settings import KEYS
from tests.integration import nox_runs

ROOT = Path(__file__).resolve().parents[2]
SECRET = "mc-test-secret-0123456789abcdef0123456789"


def run_nox(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return nox_runs.run_nox(tmp_path / "reports", *args, env=env)


def failed_saying(done: subprocess.CompletedProcess[str], *texts: str) -> str:
    """The run's output, once it is known to have failed cleanly, saying each of `texts`."""
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-4000:]
    for text in texts:
        assert text in out, out[-4000:]
    assert "Traceback" not in out
    return out


def reports(tmp_path: Path) -> list[dict[str, object]]:
    found = sorted(
        p
        for p in (tmp_path / "reports").glob("mission_critical-*.json")
        if ".suite" not in p.suffixes
    )
    return [json.loads(path.read_text()) for path in found]


@pytest.mark.slow
def test_local_session_passes_and_says_what_it_judged(tmp_path: Path) -> None:
    done = run_nox(tmp_path, "-s", "mission_critical-local", MC_JWT_SECRET=SECRET)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    assert "local (requested: local)" in out
    [summary] = reports(tmp_path)
    assert summary["env"] == "local"
    assert summary["verdict"] == "PASSED"
    counts = summary["counts"]
    assert isinstance(counts, dict)
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0
    assert counts["tests"] > 0
    assert str(summary["ws_url"]).startswith("ws://127.0.0.1:")
    # the secret never leaves the child: not in output, not in any report file
    assert SECRET not in out
    for path in (tmp_path / "reports").iterdir():
        assert SECRET not in path.read_text(errors="replace"), path
    pid = str(summary["details"]["pid"])  # type: ignore[index]
    assert (
        not Path(f"/proc/{pid}/cmdline").exists()
        or b"refservice" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


@pytest.mark.slow
def test_the_local_session_speaks_the_netra_dialect_end_to_end(tmp_path: Path) -> None:
    done = run_nox(tmp_path, "-s", "mission_critical-local", MC_CONTRACT="netra")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "starting the reference backend (flat events, netra dialect)" in out
    assert re.search(r"dialect +: netra \(contract/dialects/netra.toml\)", out)
    [summary] = reports(tmp_path)
    assert summary["dialect"] == "netra (contract/dialects/netra.toml)"
    assert summary["verdict"] == "PASSED"
    counts = summary["counts"]
    assert isinstance(counts, dict)
    assert counts["failures"] == counts["skipped"] == 0


@pytest.mark.slow
def test_an_exceeded_latency_budget_fails_the_run_naming_latency(tmp_path: Path) -> None:
    budget = {"MC_LATENCY_COMPLETED_P95": "0.001", "MC_JWT_SECRET": SECRET}  # 1 ms: no agent
    done = run_nox(tmp_path, "-s", "mission_critical-local", **budget)
    out = failed_saying(done, "[latency]", "expected the p95 time to agent_completed within 1 ms")
    assert "test_p95_latency_is_within_its_budget[agent_completed]" in out
    [summary] = reports(tmp_path)
    assert summary["verdict"] == "FAILED"
    latency = summary["latency"]
    assert isinstance(latency, dict)
    [held] = latency["budgets"]
    assert (held["metric"], held["ok"]) == ("agent_completed", False)


@pytest.mark.slow
def test_a_malformed_dialect_stops_the_run_naming_its_file_and_key(tmp_path: Path) -> None:
    broken = ROOT / "tests" / "integration" / "data" / "dialects" / "loosened.toml"
    done = run_nox(tmp_path, "-s", "mission_critical-local", MC_CONTRACT=str(broken))
    failed_saying(done, "bad setting MC_CONTRACT", "loosened.toml, key rules: unknown section")
    assert not (tmp_path / "reports").exists() or not reports(tmp_path)


@pytest.mark.slow
def test_a_run_where_no_test_runs_fails(tmp_path: Path) -> None:
    done = run_nox(tmp_path, "-s", "mission_critical-local", "--", "-k", "no_such_test_anywhere")
    failed_saying(done, "no test ran")


def test_auto_with_nothing_usable_fails_and_lists_each_candidate(tmp_path: Path) -> None:
    done = run_nox(tmp_path, "-s", "mission_critical-auto", MC_ENV_ORDER="staging")
    failed_saying(
        done,
        "Failed to start Docker services and no staging fallback configured",
        "staging: STAGING_WEBSOCKET_URL is not set",
    )


def test_a_bad_setting_stops_the_run_naming_the_key(tmp_path: Path) -> None:
    done = run_nox(tmp_path, "-s", "mission_critical-local", MC_USERS="lots")
    failed_saying(
        done, "bad setting MC_USERS (environment variable MC_USERS)", "expected a whole number"
    )
    assert reports(tmp_path) == []


@pytest.mark.slow
def test_a_thousand_concurrent_users_pass_against_the_reference_backend(tmp_path: Path) -> None:
    done = run_nox(
        tmp_path, "-s", "mission_critical-local", "--", "-k", "many_users", MC_USERS="1000"
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "users=1000" in out
    [summary] = reports(tmp_path)
    assert summary["verdict"] == "PASSED"


@pytest.mark.slow
def test_tests_outside_the_suite_fail_the_gate(tmp_path: Path) -> None:
    """Extra paths in the pytest arguments must not pass for (or pad) the suite's verdict."""
    done = run_nox(
        tmp_path,
        *("-s", "mission_critical-local", "--", "-k", "health or summary"),
        "tests/unit/test_target_report.py",
        MC_JWT_SECRET=SECRET,
    )
    failed_saying(done, "test(s) outside tests/mission_critical ran")
    [summary] = reports(tmp_path)
    assert summary["verdict"] == "FAILED"


@pytest.mark.slow
def test_a_debugger_in_the_pytest_args_neither_hangs_nor_passes_the_gate(tmp_path: Path) -> None:
    """The suite's child gets no stdin, so a debugger never waits on a terminal or pipe that
    never closes (this one is held open for the whole run); and --trace is refused outright:
    the checks run in one event loop, so it would step into nothing."""
    read_end, write_end = os.pipe()
    try:
        clean = {k: v for k, v in os.environ.items() if k not in KEYS}
        clean.update(MC_REPORT_DIR=str(tmp_path / "reports"), MC_JWT_SECRET=SECRET)
        done = subprocess.run(
            [*nox_runs.NOX, "-s", "mission_critical-local", "--", "--trace", "-k", "health"],
            cwd=ROOT,
            env=clean,
            stdin=read_end,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    failed_saying(done, "--trace cannot step into the checks", "pytest args : --trace -k health")
    [summary] = reports(tmp_path)
    assert summary["verdict"] == "FAILED"
    assert summary["pytest_args"] == ["--trace", "-k", "health"]
