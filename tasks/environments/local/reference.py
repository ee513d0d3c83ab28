"""The reference backend as a local process: ``python -m refservice``, ready at its READY line.

Its READY line (``READY host=... port=... listening_at=...``, printed the moment it listens) is
the fast path to readiness: no probe is needed, and the lag is its own clock against ours.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.environments.local.process import STOP_GRACE, child_environment, stop_group, tail
from tasks.report.outputs import writing
from tasks.settings import Secret, Settings
from tasks.settings.errors import BringUpError

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
    env = child_environment({"REFSERVICE_JWT_SECRET": secret.reveal()})
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
            exc.detail = tail(log_path)
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
    """SIGTERM, wait, then SIGKILL, to its whole group: it is gone when this returns."""
    return stop_group(process)
