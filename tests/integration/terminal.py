"""A command run as a terminal's job: a pty is its controlling terminal, in a session of its own.

``hang_up`` closes the terminal's side of the pty, as closing the window or dropping the ssh
connection does: the kernel sends SIGHUP to the session leader (the command), and the pty answers
every later write with EIO.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# The child makes itself a session leader and takes the pty (its stdin) as controlling terminal.
LAUNCH = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


class TerminalRun:
    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
        )
        os.close(slave)
        self.output = ""
        self.open = True

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """Read the terminal until ``pattern`` shows; AssertionError on exit or timeout."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.output)):
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} within {timeout:g}s:\n{self.output[-4000:]}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the pty has gone
                chunk = b""
            assert chunk, f"the command ended before {pattern!r}:\n{self.output[-4000:]}"
            self.output += chunk.decode(errors="replace")
        return found

    def hang_up(self) -> None:
        """Close the terminal."""
        if self.open:
            os.close(self.master)
            self.open = False

    def finish(self, timeout: float) -> int:
        """The exit code; the command is killed (and the test fails) if it outlives ``timeout``."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise AssertionError(f"still running {timeout:g}s after the hangup") from None
        finally:
            self.hang_up()
