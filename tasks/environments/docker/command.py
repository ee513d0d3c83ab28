"""Every subprocess of the docker environment: bounded, streamed, in its own session.

The child runs in a session of its own, so a Ctrl-C or a hangup at the terminal reaches only the
harness, which then decides (a ``down`` is never cut short by the signal that asked for it); on a
timeout or any exception while waiting, the child's whole process group is stopped first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

Log = Callable[[str], None]
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a child we stop


def tolerant(log: Log) -> Log:
    """``log``, except that a terminal gone away (EIO after a hangup, a closed pipe) is ignored.

    Teardown logs as it goes; a line that cannot be shown must not stop the ``down`` after it.
    """

    def write(line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            log(line)

    return write


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr, interleaved
    seconds: float
    timed_out: bool = False

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def _stop_child(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, SIGKILL it after KILL_GRACE."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            continue
        return


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Log | None = None,
    scrub: Callable[[str], str] = lambda line: line,
) -> Completed:
    """Run ``argv`` for at most ``timeout`` s; each output line goes to ``log`` as it comes.

    The child runs in its own session, so the terminal's Ctrl-C reaches only us; on a timeout
    or any exception here (KeyboardInterrupt included) the child is stopped before we return.
    """
    started = time.monotonic()
    lines: list[str] = []
    show = tolerant(log) if log is not None else None
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = scrub(raw.rstrip("\n"))
            lines.append(line)
            if show is not None and line.strip():
                show(line)

    reader = threading.Thread(target=pump, name="run_command-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop_child(proc)
    except BaseException:
        _stop_child(proc)
        raise
    finally:
        reader.join(timeout=KILL_GRACE)
        if not reader.is_alive() and proc.stdout is not None:
            proc.stdout.close()  # else a grandchild still holds the pipe: the thread keeps it
    seconds = time.monotonic() - started
    code = proc.returncode if proc.returncode is not None else -1
    return Completed(tuple(argv), code, "\n".join(lines), seconds, timed_out)
