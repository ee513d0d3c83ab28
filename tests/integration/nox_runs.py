"""`nox -s <session>` as a user runs it, for the integration tests: this checkout, real sessions,
and only the gate settings a test gives (none of the caller's MC_* or other gate keys leak in)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tasks.settings import KEYS

ROOT = Path(__file__).resolve().parents[2]
NOX = (sys.executable, "-m", "nox", "--no-color")
NOX_TIMEOUT = 600.0  # one session, a first venv or image build included


def gate_environ(
    report_dir: Path, env: Mapping[str, str] | None = None, drop: tuple[str, ...] = ()
) -> dict[str, str]:
    """This process's environment without gate settings (and `drop`), plus `env`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in KEYS and not k.startswith("MC_") and k not in drop
    }
    return {**clean, "MC_REPORT_DIR": str(report_dir), **(env or {})}


def run_nox(
    report_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`nox <args>` in this checkout, its reports in `report_dir`, its output captured."""
    return subprocess.run(
        [*NOX, *args],
        cwd=ROOT,
        env=gate_environ(report_dir, env, drop),
        capture_output=True,
        text=True,
        timeout=NOX_TIMEOUT,
        check=False,
    )
