"""The wake phase against a deployment that sleeps, behind the TLS front on loopback.

The front (tls_proxy.py's second form) behaves as a sleeping deployment's edge does: nothing
listens at first (connection refused), then every request is answered 503, then a few 429s with
a Retry-After, and only then the reference backend behind it answers.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tasks.environments.staging import probe_staging, serve_staging
from tasks.settings.errors import ProbeError
from tests.integration import nox_runs
from tests.integration.staging_support import (
    BOUND,
    SECRET,
    TlsFront,
    Waking,
    make_tls_front,
    staging,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import ServiceLauncher

SLACK = 1.0  # what a bounded wait may overrun by on a loaded machine
SLEEPY = Waking(listen_after=1.0, unavailable_for=1.5, rate_limit=2, retry_after=0.3)


@pytest.fixture
def tls_front(tmp_path: Path) -> Iterator[TlsFront]:
    front = make_tls_front(tmp_path)
    try:
        yield front
    finally:
        front.stop_all()


@pytest.fixture(scope="module")
def backend_port(module_refservice_launcher: ServiceLauncher) -> int:
    return module_refservice_launcher.start(secret=SECRET).port


def test_a_sleeping_deployment_is_woken_then_probed(
    tmp_path: Path, backend_port: int, tls_front: TlsFront
) -> None:
    port = tls_front.start_waking(backend_port, SLEEPY)
    settings = staging(tmp_path, port, tls_front.ca_file, STAGING_READY_TIMEOUT="30")
    lines: list[str] = []
    start = time.monotonic()
    with serve_staging(settings, log=lines.append, reason="test") as target:
        took = time.monotonic() - start
    woke = target.phases["wake"]
    # The first try was refused (nothing listened yet), so the whole 503 phase lies in the wake.
    assert SLEEPY.unavailable_for <= woke <= took < 30
    assert "staging: waking: health: connection refused, 0s of 30s (STAGING_READY_TIMEOUT)" in lines
    described = target.details["wake"]
    assert re.fullmatch(r"answered after \d+ tries \(.*\)", described), described
    for answer in ("health: connection refused x", "health: HTTP 503: 'waking up' x"):
        assert answer in described
    assert "health: HTTP 429: 'slow down' x2" in described  # both 429s waited for, then served
    assert any(line.startswith("probe wake: pass in ") for line in lines)
    assert SECRET not in "\n".join(lines)


def test_the_probe_table_says_it_woke_the_deployment(
    tmp_path: Path, backend_port: int, tls_front: TlsFront
) -> None:
    port = tls_front.start_waking(backend_port, Waking(unavailable_for=1.0))
    results = probe_staging(staging(tmp_path, port, tls_front.ca_file), print)
    assert [(r.probe, r.outcome) for r in results] == [
        ("wake", "pass"),
        ("health", "pass"),
        ("handshake", "pass"),
        ("ping", "pass"),
    ]
    assert 1.0 <= results[0].seconds < 1.0 + SLACK
    assert "health: HTTP 503: 'waking up' x" in results[0].detail


def test_a_deployment_that_stays_unavailable_fails_after_the_wake_bound(
    tmp_path: Path, backend_port: int, tls_front: TlsFront
) -> None:
    port = tls_front.start_waking(backend_port, Waking(unavailable_for=3600))
    settings = staging(tmp_path, port, tls_front.ca_file, STAGING_READY_TIMEOUT="1.5")
    start = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        serve_staging(settings, log=print, reason="test").__enter__()
    took = time.monotonic() - start
    error = caught.value
    assert error.probe == "wake"
    assert 1.5 <= error.waited <= took < 1.5 + BOUND + SLACK
    assert "not serving within 1.5s (STAGING_READY_TIMEOUT)" in error.seen
    assert error.seen.endswith("the last answer: health: HTTP 503: 'waking up'")


def test_a_retry_after_beyond_the_bound_fails_at_once_naming_it(
    tmp_path: Path, backend_port: int, tls_front: TlsFront
) -> None:
    port = tls_front.start_waking(backend_port, Waking(rate_limit=5, retry_after=120))
    settings = staging(tmp_path, port, tls_front.ca_file, STAGING_READY_TIMEOUT="10")
    start = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        serve_staging(settings, log=print, reason="test").__enter__()
    assert time.monotonic() - start < SLACK
    assert "HTTP 429: 'slow down' (Retry-After 120s)" in caught.value.seen
    assert "the Retry-After asks for 120s, more than the" in caught.value.seen


# Answers that will not change by waiting: each fails at once, however long the wake bound.
DEFINITIVE = [
    (
        {"STAGING_CA_BUNDLE": None},
        "health",
        "TLS certificate not trusted",
    ),
    (
        {"STAGING_JWT_SECRET": "a-wrong-secret-0123456789abcdef0123456789"},
        "handshake",
        "handshake refused with HTTP 401",
    ),
    ({"MC_HEALTH_PATH": "/no-such-health"}, "health", "HTTP 404"),
    (
        {
            "STAGING_WEBSOCKET_URL": "wss://staging.invalid/ws",
            "STAGING_BACKEND_URL": "https://staging.invalid",
        },
        "health",
        "host name does not resolve",
    ),
    (
        {"backend": "--dialect netra"},  # a netra backend judged as a reference one
        "handshake",
        "'error_message' (AUTH_FAILED), not connection_established",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "probe", "seen"),
    DEFINITIVE,
    ids=["untrusted-certificate", "http-401", "health-404", "unresolvable-name", "wrong-greeting"],
)
def test_a_definitive_answer_fails_at_once_whatever_the_bound(
    tmp_path: Path,
    backend_port: int,
    refservice_launcher: ServiceLauncher,
    tls_front: TlsFront,
    overrides: dict[str, str | None],
    probe: str,
    seen: str,
) -> None:
    overrides = dict(overrides)
    if args := overrides.pop("backend", None):
        backend_port = refservice_launcher.start(*args.split(), secret=SECRET).port
    port = tls_front.start(backend_port)  # listening from the start, serving
    settings = staging(tmp_path, port, tls_front.ca_file, STAGING_READY_TIMEOUT="600", **overrides)
    start = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        serve_staging(settings, log=print, reason="test").__enter__()
    assert time.monotonic() - start < SLACK
    assert caught.value.probe == probe
    assert seen in caught.value.seen


@pytest.mark.slow
def test_a_session_wakes_staging_judges_it_and_shows_the_wake(
    tmp_path: Path, backend_port: int, tls_front: TlsFront
) -> None:
    port = tls_front.start_waking(backend_port, SLEEPY)
    done = nox_runs.run_nox(
        tmp_path / "reports",
        "-s",
        "mission_critical-staging",
        env={
            "STAGING_WEBSOCKET_URL": f"wss://127.0.0.1:{port}/ws",
            "STAGING_JWT_SECRET": SECRET,
            "STAGING_CA_BUNDLE": str(tls_front.ca_file),
        },
        drop=("DOCKER_HOST",),
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "mission-critical gate: PASSED" in out
    assert "staging: waking: health: connection refused" in out
    phases = re.search(r"phases +: (.*)", out)
    assert phases is not None
    assert re.match(r"settings \S+ m?s, choice \S+ m?s, wake \S+ s, bring-up ", phases[1])
    [summary_file] = [
        p
        for p in (tmp_path / "reports").iterdir()
        if p.suffix == ".json" and ".suite" not in p.suffixes
    ]
    summary = json.loads(summary_file.read_text())
    assert list(summary["phases"])[:4] == ["settings", "choice", "wake", "bring-up"]
    assert summary["phases"]["wake"] >= SLEEPY.unavailable_for
    assert summary["details"]["wake"].startswith("answered after ")
    junit = next((tmp_path / "reports").glob("*.xml")).read_text()
    assert 'name="mc_phase_wake_s"' in junit
    assert SECRET not in out


@pytest.mark.slow
def test_a_handshake_refused_by_the_edge_under_load_is_named_as_such(
    tmp_path: Path, backend_port: int, tls_front: TlsFront
) -> None:
    """A rate limit that hits two of the suite's handshakes fails the run, as it would fail two
    users, and says what it was (not a generic handshake failure), so the team knows whether to
    fix its backend or its limit."""
    edge = Waking(rate_limit=2, retry_after=10, handshakes_from=30)
    port = tls_front.start_waking(backend_port, edge)
    done = nox_runs.run_nox(
        tmp_path / "reports",
        "-s",
        "mission_critical-staging",
        env={
            "STAGING_WEBSOCKET_URL": f"wss://127.0.0.1:{port}/ws",
            "STAGING_JWT_SECRET": SECRET,
            "STAGING_CA_BUNDLE": str(tls_front.ca_file),
        },
        drop=("DOCKER_HOST",),
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-4000:]
    assert "mission-critical gate: FAILED" in out
    named = re.findall(
        r"\[delivery\] run=- user=\S+: handshake refused with HTTP 429 \(rate limited; "
        r"Retry-After 10\)(?: for (\d+) of (\d+) users)?; the deployment's rate limit",
        out,
    )
    assert named, out[-4000:]
    refused = sum(int(count or 1) for count, _of in named)
    assert refused >= 2  # each refusal is counted; a check's refusals are one line
    assert "handshake failed (HTTP 429)" not in out
    assert SECRET not in out
