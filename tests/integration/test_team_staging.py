"""The team's own backend as its staging deployment: the team backend on uvicorn behind a real
TLS terminator on loopback (a throwaway CA), judged by `nox -s mission_critical-staging` with
only the STAGING_* keys a team sets. It passes, and its seeded fault fails naming its rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.environments.local.process import stop_group
from tests.integration.staging_support import SECRET, TlsFront
from tests.integration.team_backend import FAULT_RULE, start_team_backend
from tests.integration.test_staging import run_nox, tls_front

__all__ = ["tls_front"]  # a fixture, used by name


@pytest.fixture(scope="module")
def deployments(
    tls_front: TlsFront, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """The TLS ports of two team deployments: a correct one and one with the seeded fault."""
    logs = tmp_path_factory.mktemp("team-staging")
    started = []
    try:
        ports = {}
        for fault in ("", "reorder"):
            process, port = start_team_backend(SECRET, logs / f"team{fault}.log", fault=fault)
            started.append(process)
            ports[fault or "correct"] = tls_front.start(port)
        yield ports
    finally:
        for process in started:
            stop_group(process)


def staging_keys(port: int, tls: TlsFront) -> dict[str, str]:
    return {
        "STAGING_WEBSOCKET_URL": f"wss://127.0.0.1:{port}/ws",
        "STAGING_JWT_SECRET": SECRET,
        "STAGING_CA_BUNDLE": str(tls.ca_file),
    }


@pytest.mark.slow
def test_the_team_backend_is_judged_as_its_staging_deployment(
    tmp_path: Path, deployments: dict[str, int], tls_front: TlsFront
) -> None:
    port = deployments["correct"]
    out, reports = run_nox(tmp_path, "mission_critical-staging", **staging_keys(port, tls_front))
    assert "mission-critical gate: PASSED" in out, out[-4000:]
    [path] = [p for p in reports if p.suffix == ".json" and ".suite" not in p.suffixes]
    summary = json.loads(path.read_text())
    assert summary["backend"] == f"deployment: wss://127.0.0.1:{port}/ws"
    assert summary["backend_version"] == "team-1.0.0"
    assert summary["counts"]["failures"] == 0
    assert SECRET not in out


@pytest.mark.slow
def test_the_team_deployments_seeded_fault_fails_naming_its_rule(
    tmp_path: Path, deployments: dict[str, int], tls_front: TlsFront
) -> None:
    keys = staging_keys(deployments["reorder"], tls_front)
    out, _ = run_nox(tmp_path, "mission_critical-staging", **keys)
    assert "mission-critical gate: FAILED" in out
    assert f"[{FAULT_RULE}]" in out
