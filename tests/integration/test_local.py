"""The local environment against a real reference backend process."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tasks.environments import local
from tasks.settings import Secret, Settings, load_settings
from tasks.settings.errors import BringUpError


def _settings(tmp_path: Path, **extra: str) -> Settings:
    environ = {"MC_REPORT_DIR": str(tmp_path / "reports"), **extra}
    return load_settings(Path.cwd(), environ=environ)


def test_serve_local_yields_a_live_target_and_stops_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lines: list[str] = []
    with local.serve_local(settings, python=sys.executable, log=lines.append, reason="t") as target:
        health = f"{target.http_url}/health"  # http://127.0.0.1:<port>
        with urllib.request.urlopen(health, timeout=5) as response:  # noqa: S310
            body = json.loads(response.read())
        pid = int(target.details["pid"])
        assert body["status"] == "ok"
        assert target.ws_url.startswith("ws://127.0.0.1:")
        assert target.jwt_secret is not None
        assert float(target.details["readiness_lag_ms"]) >= 0
    assert not Path(f"/proc/{pid}").exists() or _is_zombie_or_gone(pid)
    assert any("ready on" in line for line in lines)
    assert not any(target.jwt_secret.reveal() in line for line in lines)


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_backend_that_dies_before_ready_is_a_bring_up_error_with_its_log(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(BringUpError) as caught:
        local.start_service(
            settings, python=sys.executable, secret=Secret(""), fault=None
        )  # an empty secret makes refservice refuse to start
    message = str(caught.value)
    assert "exited with code" in message
    assert "REFSERVICE_JWT_SECRET" in message  # the service's own stderr, tailed


def test_a_backend_that_never_says_ready_fails_within_the_bound(tmp_path: Path) -> None:
    settings = _settings(tmp_path, MC_LOCAL_READY_TIMEOUT="0.5")
    silent = tmp_path / "silent.py"
    silent.write_text("import time\ntime.sleep(60)\n")
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\nexec {sys.executable} {silent}\n")
    fake_python.chmod(0o755)
    start = time.monotonic()
    with pytest.raises(BringUpError, match=r"did not say READY within 0\.5s"):
        local.start_service(settings, python=str(fake_python), secret=Secret("x" * 32))
    assert time.monotonic() - start < 5
