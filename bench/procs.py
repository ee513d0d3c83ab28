"""Processes for the benchmarks: timed children with their peak memory, a hung daemon, a backend.

Every wait here is bounded; every child is stopped (its whole process group) before we return.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tasks.environments.local import read_ready_line, stop_service

ROOT = Path(__file__).resolve().parent.parent
TMP = ROOT / "bench" / "tmp"
READY_TIMEOUT = 15.0  # seconds for the reference backend to say READY


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def suite_environ(url: str, http: str, secret: str, reason: str, **extra: str) -> dict[str, str]:
    """The environment of a suite child aimed at a backend: none of ours MC_*, these instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MC_", "PYTEST_"))}
    env.update(
        MC_WS_URL=url,
        MC_HTTP_URL=http,
        MC_JWT_SECRET=secret,
        MC_ENV="bench",
        MC_ENV_REASON=reason,
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


@dataclass(frozen=True)
class Child:
    """A finished child: exit code, wall seconds, peak RSS (MiB, it and its waited children)."""

    returncode: int
    seconds: float
    peak_mib: float
    output: str
    timed_out: bool
    pid: int


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_child(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    output: Path | None = None,
) -> Child:
    """Run ``argv`` to its end (killed at ``timeout``); wall time from spawn to exit."""
    TMP.mkdir(parents=True, exist_ok=True)
    path = output or TMP / f"child-{os.getpid()}-{time.monotonic_ns()}.out"
    timed_out = threading.Event()
    with path.open("w+b") as sink:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )

        def expire() -> None:
            timed_out.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        sink.seek(0)
        text = sink.read().decode(errors="replace")
    if output is None:
        path.unlink(missing_ok=True)
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    return Child(proc.returncode, seconds, peak, text, timed_out.is_set(), proc.pid)


# ---- a hung daemon ----------------------------------------------------------------------------


class HungDaemon:
    """A unix socket that accepts connections and never answers (what a wedged dockerd does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._changed = threading.Condition()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._thread = threading.Thread(target=self._accept, name="hung-daemon", daemon=True)

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self._server.bind(str(self.path))
        self._server.listen(64)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self.path.unlink(missing_ok=True)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._changed:
                self._held.append(conn)
                self.accepted += 1
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Whether ``count`` connections were accepted within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.accepted >= count, timeout)


# ---- the reference backend --------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    process: subprocess.Popen[bytes]
    ws_url: str
    http_url: str


def _read_ready(process: subprocess.Popen[bytes], timeout: float) -> dict[str, str]:
    """The READY line's fields, read the way the harness reads them."""
    line = read_ready_line(process, timeout)
    return dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)


@contextlib.contextmanager
def run_backend(
    python: str, secret: str, *, delay: float, stderr: Path, extra: Sequence[str] = ()
) -> Iterator[Backend]:
    """``python -m refservice`` on a free loopback port, stopped (SIGTERM, then KILL) after
    (`extra` arguments last, so a `--delay` there wins)."""
    command = [python, "-m", "refservice", "--host", "127.0.0.1", "--port", "0"]
    command += ["--delay", f"{delay:g}", *extra]
    env = {**os.environ, "REFSERVICE_JWT_SECRET": secret, "PYTHONUNBUFFERED": "1"}
    stderr.parent.mkdir(parents=True, exist_ok=True)
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        fields = _read_ready(process, READY_TIMEOUT)
        base = f"{fields['host']}:{fields['port']}"
        yield Backend(process, f"ws://{base}/ws", f"http://{base}")
    finally:
        stop_service(process)


# ---- what runs ---------------------------------------------------------------------------------


def processes_marked(marker: str) -> list[str]:
    """'pid cmdline' of every live process whose environment holds ``marker`` (KEY=value)."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in environ and cmdline:
            found.append(f"{entry.name} {cmdline.decode(errors='replace')[:160]}")
    return found
