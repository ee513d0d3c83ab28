"""A local backend as a process group of its own: started in a new session, stopped as a group.

The child is the leader of a new session (``start_new_session``), so the terminal's Ctrl-C or
hangup reaches only the harness, which then stops it on purpose, and everything it forks
(``uvicorn --workers 2``, gunicorn's workers) is in its process group. ``stop_group`` sends
SIGTERM to the whole group, gives it ``STOP_GRACE`` seconds, then SIGKILLs whatever of the group
is left, and returns only when no member is alive. The child's environment is the shell's
without the gate's own keys (``MC_*``, ``STAGING_*``: secrets among them), plus what the caller
adds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from tasks.settings import KEYS

STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
GONE_BOUND = 5.0  # seconds for the group to be gone after SIGKILL (reaping included)
POLL = 0.02


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The shell's variables minus the gate's own (they may hold secrets), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("MC_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group ``pgid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _leads_its_group(process: subprocess.Popen[bytes]) -> bool:
    """Whether the child leads a process group (started in a session of its own)."""
    try:
        return os.getpgid(process.pid) == process.pid
    except ProcessLookupError:  # exited, not yet reaped: its group may live on
        return True


def _send(process: subprocess.Popen[bytes], signum: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(process.pid, signum)
        elif process.poll() is None:
            process.send_signal(signum)


def _wait_gone(process: subprocess.Popen[bytes], deadline: float, *, group: bool) -> bool:
    """Reap the child and wait for the rest of its group, until ``deadline``; all gone?"""
    while True:
        process.poll()
        if process.returncode is not None and not (group and group_members(process.pid)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def stop_group(process: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> int | None:
    """SIGTERM to the child's group, then SIGKILL after ``grace``: the group is gone when this
    returns (the child's exit code, or None if it could not be reaped within the bounds). A
    child that does not lead a group of its own is stopped alone."""
    group = _leads_its_group(process)
    _send(process, signal.SIGTERM, group=group)
    if not _wait_gone(process, time.monotonic() + grace, group=group):
        _send(process, signal.SIGKILL, group=group)
        _wait_gone(process, time.monotonic() + GONE_BOUND, group=group)
    if process.stdout:
        process.stdout.close()
    return process.returncode


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, indented for an error message ("" when there is none)."""
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(f"  | {line}" for line in text)
