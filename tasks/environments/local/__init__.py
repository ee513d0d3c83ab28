"""The local environment: the reference backend as a child process on a free loopback port."""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tasks.report.outputs import writing
from tasks.settings import Secret, Settings
from tasks.settings.addresses import host_port
from tasks.settings.errors import BringUpError
from tasks.signals import shielded
from tasks.target import Target

Log = Callable[[str], None]
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
SERVICE_LOG = "the reference backend's log (MC_REPORT_DIR)"


@dataclass(frozen=True)
class Service:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    listening_at: float  # the backend's own clock reading when it started listening
    ready_at: float  # time.time() when the harness saw it ready
    log_path: Path


def start_service(
    settings: Settings,
    *,
    python: str,
    secret: Secret,
    fault: str | None = None,
    port: int = 0,
) -> Service:
    """Start ``python -m refservice`` and return once it has said READY (bounded)."""
    log_path = settings.report_dir / f"local-service-{os.getpid()}.log"
    with writing(SERVICE_LOG, log_path):
        settings.report_dir.mkdir(parents=True, exist_ok=True)
        stderr = log_path.open("wb")
    command = [python, "-m", "refservice", "--host", settings.local_host, "--port", str(port)]
    command += ["--shape", settings.event_shape, "--dialect", settings.contract]
    if fault:
        command += ["--fault", fault]
    env = {**os.environ, "REFSERVICE_JWT_SECRET": secret.reveal(), "PYTHONUNBUFFERED": "1"}
    with stderr:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=settings.root,
            start_new_session=True,  # Ctrl-C goes to us; we stop it in teardown
        )
    try:
        line = read_ready_line(process, settings.local_ready_timeout)
        fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
        return Service(
            process,
            fields["host"],
            int(fields["port"]),
            float(fields["listening_at"]),
            time.time(),
            log_path,
        )
    except BaseException as exc:
        stop_service(process)
        if isinstance(exc, BringUpError):
            exc.detail = _tail(log_path)
            exc.log_path = str(log_path)
        if isinstance(exc, (KeyError, ValueError)):
            raise BringUpError("local", f"unexpected READY line from refservice: {exc}") from None
        raise


def read_ready_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The READY line refservice prints once listening; BringUpError if it dies or stays silent."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BringUpError("local", f"refservice did not say READY within {timeout:g}s")
            if not selector.select(left):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                code = process.wait(timeout=STOP_GRACE)
                raise BringUpError("local", f"refservice exited with code {code} before READY")
            buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode(errors="replace").strip()
    if not line.startswith("READY "):
        raise BringUpError("local", f"refservice printed {line[:200]!r} instead of READY")
    return line


def stop_service(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()
    return process.returncode


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(f"  | {line}" for line in text)


@contextmanager
def serve_local(
    settings: Settings, *, python: str, log: Log, reason: str, fault: str | None = None
) -> Iterator[Target]:
    secret = settings.jwt_secret or Secret(secrets.token_urlsafe(32))
    dialect = settings.dialect.name
    log(f"starting the reference backend ({settings.event_shape} events, {dialect} dialect)")
    service = start_service(settings, python=python, secret=secret, fault=fault)
    try:
        base = host_port(service.host, service.port)
        log(f"reference backend ready on {base} (pid {service.process.pid})")
        yield Target(
            env="local",
            ws_url=f"ws://{base}{settings.dialect.websocket_path}",
            http_url=f"http://{base}",
            reason=reason,
            jwt_secret=secret,
            details={
                "pid": str(service.process.pid),
                "service_log": str(service.log_path),
                "readiness_lag_ms": f"{(service.ready_at - service.listening_at) * 1000:.1f}",
            },
        )
    finally:
        with shielded():
            code = stop_service(service.process)
        if code in (0, -signal.SIGTERM):
            service.log_path.unlink(missing_ok=True)
        else:
            log(f"note: the reference backend exited with code {code}; see {service.log_path}")
