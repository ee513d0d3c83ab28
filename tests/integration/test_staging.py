"""Staging probes against a TLS "staging" on loopback: the reference backend behind a real TLS
terminator (tls_proxy.py) with a certificate from a throwaway trustme CA.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
import pytest

from contract.dialect import load_dialect
from refservice import __version__
from tasks.environments.choose import DOCKER_TO_STAGING
from tasks.environments.probes import probe_socket
from tasks.environments.staging import (
    ProbeResult,
    format_probe_table,
    mint_token,
    plan_probes,
    probe_staging,
    serve_staging,
)
from tasks.settings import load_settings
from tasks.settings.errors import ProbeError, SettingsError
from tests.integration import nox_runs
from tests.integration.staging_support import BOUND, SECRET, TlsFront, make_tls_front, staging

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import ServiceLauncher

ROOT = Path(__file__).resolve().parents[2]
SLACK = 1.0  # what a bounded wait may overrun by on a loaded machine
# A well-formed token the backend must reject: signed with a key it does not hold.
FORGED = jwt.encode({"sub": "forged", "exp": 4102444800}, "not-the-secret" * 4, algorithm="HS256")


@pytest.fixture(scope="module")
def tls_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFront]:
    front = make_tls_front(tmp_path_factory.mktemp("tls"))
    try:
        yield front
    finally:
        front.stop_all()


@pytest.fixture(scope="module")
def staging_port(module_refservice_launcher: ServiceLauncher, tls_front: TlsFront) -> int:
    """The TLS port of a clean reference backend (shared by the module's tests)."""
    service = module_refservice_launcher.start(secret=SECRET)
    return tls_front.start(service.port)


def outcomes(results: list[ProbeResult]) -> dict[str, str]:
    return {r.probe: r.outcome for r in results}


def test_probes_pass_against_tls_staging(
    tmp_path: Path, staging_port: int, tls_front: TlsFront
) -> None:
    lines: list[str] = []
    results = probe_staging(staging(tmp_path, staging_port, tls_front.ca_file), lines.append)
    assert outcomes(results) == {
        "wake": "pass",
        "health": "pass",
        "handshake": "pass",
        "ping": "pass",
    }
    assert all(0 < r.seconds < BOUND for r in results)
    assert results[1].facts == {"backend_version": __version__}
    assert "ping_ms" in results[3].facts
    table = format_probe_table(results).splitlines()
    assert table[0].split() == ["probe", "result", "time", "detail"]
    assert [row.split()[:2] for row in table[1:]] == [[p, "pass"] for p in outcomes(results)]
    assert table[1].endswith("answered at the first try")
    assert SECRET not in "\n".join(lines)


def test_serve_staging_yields_a_target_with_provenance(
    tmp_path: Path, staging_port: int, tls_front: TlsFront
) -> None:
    lines: list[str] = []
    settings = staging(tmp_path, staging_port, tls_front.ca_file)
    with serve_staging(settings, log=lines.append, reason="requested explicitly") as target:
        assert target.env == "staging"
        assert target.ws_url == f"wss://127.0.0.1:{staging_port}/ws"
        assert target.http_url == f"https://127.0.0.1:{staging_port}"
        assert target.ca_bundle == str(tls_front.ca_file.resolve())
        assert target.jwt_secret is not None
        assert target.jwt_secret.reveal() == SECRET
        assert target.details["version"] == __version__
        assert target.details["tls"] == f"verified against {tls_front.ca_file.resolve()}"
        assert set(target.details) >= {"probe_health_s", "probe_handshake_s", "probe_ping_s"}
    assert f"Configured for staging testing: WebSocket=wss://127.0.0.1:{staging_port}/ws" in lines
    assert SECRET not in repr(target) + "\n".join(lines)


def test_a_static_token_is_enough_and_never_shown(
    tmp_path: Path, staging_port: int, tls_front: TlsFront
) -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "static-user", "exp": now + 300}, SECRET, algorithm="HS256")
    settings = staging(
        tmp_path, staging_port, tls_front.ca_file, STAGING_JWT_SECRET=None, STAGING_TOKENS=token
    )
    lines: list[str] = []
    results = probe_staging(settings, lines.append)
    assert outcomes(results) == {
        "wake": "pass",
        "health": "pass",
        "handshake": "pass",
        "ping": "pass",
    }
    assert "static token 1 of 1" in results[2].detail
    assert token not in "\n".join(lines) + format_probe_table(results) + repr(settings)


@pytest.mark.parametrize(
    ("host", "why"),
    [("127.0.0.1", "unable to get local issuer certificate"), ("localhost", "Hostname mismatch")],
)
def test_an_untrusted_certificate_fails_health_and_handshake(
    tmp_path: Path, staging_port: int, tls_front: TlsFront, host: str, why: str
) -> None:
    ca = tls_front.ca_file if host == "localhost" else None  # no bundle: the system roots
    settings = staging(
        tmp_path,
        staging_port,
        ca,
        STAGING_WEBSOCKET_URL=f"wss://{host}:{staging_port}/ws",
        STAGING_BACKEND_URL=f"https://{host}:{staging_port}",
    )
    results = probe_staging(settings, print)
    assert outcomes(results) == {
        "wake": "pass",
        "health": "fail",
        "handshake": "fail",
        "ping": "not run",
    }
    for result in results[1:3]:
        assert result.error is not None
        assert "TLS certificate not trusted" in result.detail
        assert why in result.detail
        assert result.seconds < BOUND
    with pytest.raises(ProbeError) as caught:
        serve_staging(settings, log=print, reason="test").__enter__()
    assert caught.value.probe == "health"
    assert str(caught.value).startswith(f"probe health failed at https://{host}:{staging_port}/")


def test_health_500_fails_the_health_probe(
    tmp_path: Path, refservice_launcher: ServiceLauncher, tls_front: TlsFront
) -> None:
    """A 500 may be a backend whose dependencies are still coming up, so a wake retries it
    (and says so) until its bound; with no wake (STAGING_READY_TIMEOUT=0) it fails at once."""
    service = refservice_launcher.start("--fault", "health_fail", secret=SECRET)
    port = tls_front.start(service.port)
    settings = staging(tmp_path, port, tls_front.ca_file, STAGING_READY_TIMEOUT="0")
    results = probe_staging(settings, print)
    assert outcomes(results) == {
        "wake": "pass",
        "health": "fail",
        "handshake": "pass",
        "ping": "pass",
    }
    assert results[1].detail.startswith("HTTP 500")
    start = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        serve_staging(settings, log=print, reason="test").__enter__()
    assert time.monotonic() - start < BOUND
    assert (caught.value.probe, caught.value.seen[:8]) == ("health", "HTTP 500")
    woken = staging(tmp_path, port, tls_front.ca_file, STAGING_READY_TIMEOUT="1")
    lines: list[str] = []
    with pytest.raises(ProbeError) as caught:
        serve_staging(woken, log=lines.append, reason="test").__enter__()
    assert caught.value.probe == "wake"
    assert 1 <= caught.value.waited < 1 + BOUND
    assert """the last answer: health: HTTP 500: '{"status": "failing"}'""" in caught.value.seen
    assert lines[1].startswith("""staging: waking: health: HTTP 500: '{"status": "failing"}', 0s""")


@pytest.mark.parametrize(
    ("overrides", "seen"),
    [
        ({"STAGING_JWT_SECRET": "a-wrong-secret-0123456789abcdef0123456789"}, "HTTP 401"),
        ({"STAGING_JWT_SECRET": None, "STAGING_TOKENS": FORGED}, "HTTP 401"),
        ({"STAGING_WEBSOCKET_URL": "wss://127.0.0.1:{port}/not-the-socket"}, "HTTP 404"),
    ],
    ids=["rejected-secret", "rejected-static-token", "refused-path"],
)
def test_a_refused_handshake_fails_the_handshake_probe(
    tmp_path: Path,
    staging_port: int,
    tls_front: TlsFront,
    overrides: dict[str, str | None],
    seen: str,
) -> None:
    filled = {k: v.format(port=staging_port) if v else v for k, v in overrides.items()}
    settings = staging(tmp_path, staging_port, tls_front.ca_file, **filled)
    results = probe_staging(settings, print)
    assert outcomes(results) == {
        "wake": "pass",
        "health": "pass",
        "handshake": "fail",
        "ping": "not run",
    }
    error = results[2].error
    assert error is not None
    assert f"handshake refused with {seen}" in error.seen
    assert str(error).startswith("probe handshake failed at wss://127.0.0.1:")
    assert FORGED not in str(error)
    assert SECRET not in str(error)


@pytest.mark.parametrize("scheme", ["wss", "ws"])
def test_a_server_that_never_answers_fails_within_the_bound(tmp_path: Path, scheme: str) -> None:
    """With no wake phase (STAGING_READY_TIMEOUT=0) a silence costs one probe bound; with one,
    it is retried until the wake bound (test_staging_wake.py)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts or answers
        port = silent.getsockname()[1]
        http = "https" if scheme == "wss" else "http"
        settings = staging(
            tmp_path,
            port,
            None,
            STAGING_WEBSOCKET_URL=f"{scheme}://127.0.0.1:{port}/ws",
            STAGING_BACKEND_URL=f"{http}://127.0.0.1:{port}",
            STAGING_PROBE_TIMEOUT="0.5",
            STAGING_READY_TIMEOUT="0",
        )
        start = time.monotonic()
        results = probe_staging(settings, print)
        took = time.monotonic() - start
        assert outcomes(results) == {
            "wake": "pass",
            "health": "fail",
            "handshake": "fail",
            "ping": "not run",
        }
        assert results[1].detail == "no answer within 0.5s"
        assert results[2].detail == "no handshake response within 0.5s"
        assert all(0.5 <= r.seconds < 0.5 + SLACK for r in results[1:3])
        assert took < 1 + SLACK
        start = time.monotonic()
        with pytest.raises(ProbeError) as caught:
            serve_staging(settings, log=print, reason="test").__enter__()
        assert caught.value.probe == "health"
        assert 0.5 <= caught.value.waited < 0.5 + SLACK
        assert time.monotonic() - start < 0.5 + SLACK


def test_nothing_listening_fails_fast_as_refused(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe_port:
        port = probe_port.getsockname()[1]
    settings = staging(
        tmp_path,
        port,
        None,
        STAGING_WEBSOCKET_URL=f"ws://127.0.0.1:{port}/ws",
        STAGING_BACKEND_URL=f"http://127.0.0.1:{port}",
        STAGING_READY_TIMEOUT="0",
    )
    results = probe_staging(settings, print)
    assert [(r.outcome, r.detail) for r in results[1:3]] == [("fail", "connection refused")] * 2
    assert all(r.seconds < BOUND for r in results)


def test_no_token_goes_over_plain_ws_to_a_remote_host(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        staging(tmp_path, 443, None, STAGING_WEBSOCKET_URL="ws://staging.invalid/ws")
    assert caught.value.key == "STAGING_WEBSOCKET_URL"
    # Settings built some other way: the probe itself refuses before any connection (a
    # connection attempt to an .invalid name would fail differently, with a name lookup error).
    settings = staging(tmp_path, 443, None, STAGING_WEBSOCKET_URL="wss://staging.invalid/ws")
    unsafe = dataclasses.replace(settings, staging_websocket_url="ws://staging.invalid/ws")
    handshake, ping = probe_socket(plan_probes(unsafe))
    assert handshake.outcome == "fail"
    assert handshake.seconds == 0.0
    assert handshake.detail.startswith(
        "refused to send a token over plain ws:// to staging.invalid"
    )
    assert ping.outcome == "not run"


def test_staging_needs_a_url_and_credentials(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        plan_probes(load_settings(tmp_path, {}))
    assert caught.value.key == "STAGING_WEBSOCKET_URL"
    with pytest.raises(SettingsError) as caught:
        plan_probes(load_settings(tmp_path, {"STAGING_WEBSOCKET_URL": "wss://example.com/ws"}))
    assert caught.value.key == "STAGING_JWT_SECRET"
    assert "STAGING_TOKENS" in caught.value.problem


def test_minted_tokens_verify_as_hs256_with_sub_and_exp() -> None:
    claims = jwt.decode(mint_token(SECRET, "mc-probe"), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "mc-probe"
    assert 0 < claims["exp"] - time.time() <= 600


def test_minted_tokens_carry_the_dialects_claims() -> None:
    token = mint_token(SECRET, "mc-probe", dialect=load_dialect("netra"))
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_aud": False})
    assert (claims["iss"], claims["aud"], claims["token_type"]) == (
        "netra-auth-service",
        "netra-platform",
        "access",
    )
    assert claims["jti"]


NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # a daemon that is not there
SESSIONS = [
    ("mission_critical-staging", {}, "requested explicitly (staging)"),
    ("mission_critical-auto", {**NO_DOCKER, "USE_STAGING_FALLBACK": "true"}, DOCKER_TO_STAGING),
    (
        "mission_critical-auto",
        {"USE_STAGING_SERVICES": "true"},
        "USE_STAGING_SERVICES=true is deprecated: use USE_STAGING_FALLBACK=true",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("session", "extra", "announced"), SESSIONS, ids=["staging", "auto-fallback", "auto-legacy"]
)
def test_a_session_judges_tls_staging_and_leaks_nothing(
    tmp_path: Path,
    staging_port: int,
    tls_front: TlsFront,
    session: str,
    extra: dict[str, str],
    announced: str,
) -> None:
    token = jwt.encode({"sub": "ci-static", "exp": int(time.time()) + 900}, SECRET, "HS256")
    out, reports = run_nox(
        tmp_path,
        session,
        STAGING_WEBSOCKET_URL=f"wss://127.0.0.1:{staging_port}/ws",
        STAGING_BACKEND_URL=f"https://127.0.0.1:{staging_port}",
        STAGING_JWT_SECRET=SECRET,
        STAGING_TOKENS=token,
        STAGING_CA_BUNDLE=str(tls_front.ca_file),
        **extra,
    )
    assert announced in out
    assert f"Configured for staging testing: WebSocket=wss://127.0.0.1:{staging_port}/ws" in out
    assert "mission-critical gate: PASSED" in out
    [summary_file] = [p for p in reports if p.suffix == ".json" and ".suite" not in p.suffixes]
    summary = json.loads(summary_file.read_text())
    assert (summary["env"], summary["verdict"]) == ("staging", "PASSED")
    assert summary["backend_version"] == __version__
    assert summary["ws_url"] == f"wss://127.0.0.1:{staging_port}/ws"
    assert {"probe_health_s", "probe_handshake_s", "probe_ping_s"} <= set(summary["details"])
    assert summary["counts"]["tests"] > 0
    assert summary["counts"]["skipped"] == summary["counts"]["failures"] == 0
    rejected = [env for env, _ in summary["rejected"]]
    assert rejected == (["docker"] if "DOCKER_HOST" in extra else [])
    [junit] = [p for p in reports if p.suffix == ".xml"]
    assert 'name="mc_env" value="staging"' in junit.read_text()
    for text in [out, *(p.read_text(errors="replace") for p in reports)]:
        assert SECRET not in text
        assert token not in text
        assert token.split(".")[2] not in text  # not even the signature alone


@pytest.fixture(scope="module")
def netra_staging_port(module_refservice_launcher: ServiceLauncher, tls_front: TlsFront) -> int:
    """The TLS port of a reference backend that speaks the netra dialect."""
    service = module_refservice_launcher.start("--dialect", "netra", secret=SECRET)
    return tls_front.start(service.port)


@pytest.mark.slow
def test_the_netra_team_judges_its_staging_with_its_dialect(
    tmp_path: Path, netra_staging_port: int, tls_front: TlsFront
) -> None:
    """`MC_CONTRACT=netra nox -s mission_critical-staging`, over verified TLS on loopback."""
    port = netra_staging_port
    environ = {
        "STAGING_WEBSOCKET_URL": f"wss://127.0.0.1:{port}/ws",
        "STAGING_JWT_SECRET": SECRET,
        "STAGING_CA_BUNDLE": str(tls_front.ca_file),
    }
    out, reports = run_nox(tmp_path, "mission_critical-staging", MC_CONTRACT="netra", **environ)
    assert "mission-critical gate: PASSED" in out, out[-4000:]
    assert "greeting connection_established; auth: HS256 token minted" in out
    assert re.search(r"dialect +: netra \(contract/dialects/netra.toml\)", out)
    [junit] = [p for p in reports if p.suffix == ".xml"]
    assert 'name="mc_dialect" value="netra"' in junit.read_text()
    # the same deployment judged in the wrong dialect is not passed: its tokens lack the claims
    out, _ = run_nox(tmp_path / "wrong", "mission_critical-staging", **environ)
    assert "probe handshake failed" in out
    assert "'error_message' (AUTH_FAILED), not connection_established" in out
    for text in [out, *(p.read_text(errors="replace") for p in reports)]:
        assert SECRET not in text


def test_require_env_fails_auto_when_a_legacy_flag_picks_staging(tmp_path: Path) -> None:
    environ = {"TEST_MODE": "staging", "MC_REQUIRE_ENV": "docker"}
    url = "wss://staging.invalid/ws"  # never contacted: the choice fails first
    out, reports = run_nox(tmp_path, "mission_critical-auto", STAGING_WEBSOCKET_URL=url, **environ)
    assert "MC_REQUIRE_ENV=docker but the run would judge staging" in out
    assert "Traceback" not in out
    assert reports == []


def run_nox(tmp_path: Path, session: str, **environ: str) -> tuple[str, list[Path]]:
    """`nox -s session` with only these gate settings; its output and its report files."""
    reports_dir = tmp_path / "reports"
    done = nox_runs.run_nox(reports_dir, "-s", session, env=environ, drop=("DOCKER_HOST",))
    out = done.stdout + done.stderr
    passed = "mission-critical gate: PASSED" in out
    assert (done.returncode == 0) == passed, out[-4000:]
    reports = sorted((tmp_path / "reports").iterdir()) if (tmp_path / "reports").exists() else []
    return out, reports
