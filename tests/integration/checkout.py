"""Running the gate as a user does, in a throwaway checkout: for tables of bad input.

A row's checkout is a temporary root with the noxfile, pyproject and committed profiles copied
and the packages linked, plus the row's own files (a broken `.env`, a FIFO where a folder should
be, ...), so nothing touches the real checkout. nox uses the real checkout's session venvs
(`--envdir`; `--no-install` once `warm_up` made them). `Table` runs every selected row at once
in a thread pool, the first time a test asks for one row's outcome.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tasks.settings.keys import KEYS, SET_BY_THE_GATE

ROOT = Path(__file__).resolve().parents[2]
ENVDIR = ROOT / ".nox"
COPIED = ("noxfile.py", "pyproject.toml", ".env.local", ".env.docker", ".env.staging")
LINKED = ("tasks", "contract", "refservice", "tests")
SESSIONS = (
    "mission_critical-local",
    "mission_critical-staging",
    "mission_critical-auto",
    "mission_critical-docker",
    "probe-staging",
    "docker_cleanup",
)
WORKERS = 4  # 2 cores: a nox start is mostly CPU, with some waiting on the disk
RUN_BOUND = 120.0  # seconds one row may take; a failing row takes about half a second alone
NO_DOCKER = (
    "unix:///nonexistent/mc-checkout/docker.sock"  # never a real daemon, whatever a row does
)


class Dir:
    """A folder where the row wants one (often where a file should be)."""


class Fifo:
    """A FIFO: reading it would block forever."""


@dataclass(frozen=True)
class Link:
    to: str


Content = bytes | str | Dir | Fifo | Link


@dataclass(frozen=True)
class Case:
    id: str
    says: tuple[str, ...]  # all on the one line that gives the reason
    files: dict[str, Content] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("nox", "mission_critical-local")  # or ("inv", "gate.local")
    hidden: tuple[str, ...] = ()  # never in the output (nor in a file: none may be written)
    absent: tuple[str, ...] = ()  # other text the run must not print


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    seconds: float
    before: list[str]  # the root's entries before and after the run
    after: list[str]
    left_running: list[str]  # processes whose working folder is the row's root


def make_root(base: Path, files: dict[str, Content]) -> Path:
    root = base / "checkout"
    root.mkdir(parents=True)
    for name in COPIED:
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, root / name)
    for name in LINKED:
        (root / name).symlink_to(ROOT / name)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        if isinstance(content, Dir):
            path.mkdir()
        elif isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, Link):
            path.symlink_to(content.to)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def listing(root: Path) -> list[str]:
    """Every entry under `root` (links not followed), for 'nothing was written'."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [os.path.relpath(Path(folder) / n, root) for n in [*dirs, *names]]
    return sorted(found)


def running_in(root: Path) -> list[str]:
    """Processes working in `root`: a backend the run started (it runs there) and left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").readlink().is_relative_to(root):
                found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()!r}")
        except OSError:
            continue
    return found


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    drop = set(KEYS) | set(SET_BY_THE_GATE) | {"PYTEST_ADDOPTS", "DOCKER_HOST"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "DOCKER_HOST": NO_DOCKER, **extra}


def argv(command: tuple[str, ...], *, install: bool = False) -> list[str]:
    tool, *rest = command
    if tool == "inv":
        return [sys.executable, "-m", "invoke", *rest]
    head = [sys.executable, "-m", "nox", "--no-color", "--envdir", str(ENVDIR)]
    return [*head, *([] if install else ["--no-install"]), "-s", rest[0], *rest[1:]]


def run_case(case: Case, base: Path, *, keep: bool = False) -> Outcome:
    root = make_root(base, case.files)
    before = listing(root)
    start = time.monotonic()
    done = subprocess.run(
        argv(case.command),
        cwd=root,
        env=clean_environment(case.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=RUN_BOUND,
        check=False,
    )
    seconds = time.monotonic() - start
    after, left = listing(root), running_in(root)
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return Outcome(done.returncode, done.stdout + done.stderr, seconds, before, after, left)


def warm_up() -> None:
    """Make the session venvs once, so that rows run with --no-install never race to."""
    if all((ENVDIR / name).is_dir() for name in SESSIONS):
        return
    env = clean_environment({"MC_USERS": "not-a-number"})  # each session stops at once
    command = [sys.executable, "-m", "nox", "--no-color", "--envdir", str(ENVDIR), "-s", *SESSIONS]
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=600, check=False)


class Table:
    """Runs the selected rows at once, the first time any row's outcome is asked for."""

    def __init__(self, base: Path, selected: list[Case]) -> None:
        self.base, self.selected = base, selected
        self.lock = threading.Lock()
        self.futures: dict[str, Future[Outcome]] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.started = self.finished = 0.0

    def outcome(self, case: Case) -> Outcome:
        with self.lock:
            if self.pool is None:
                warm_up()
                self.started = time.monotonic()
                self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="checkout")
                for row in self.selected:
                    future = self.pool.submit(run_case, row, self.base / row.id)
                    future.add_done_callback(self._finished)
                    self.futures[row.id] = future
        return self.futures[case.id].result(timeout=RUN_BOUND * len(self.selected))

    def _finished(self, _: Future[Outcome]) -> None:
        self.finished = max(self.finished, time.monotonic())

    def close(self) -> str:
        """How long the table took (for the test report)."""
        if self.pool is None:
            return "no row ran"
        self.pool.shutdown(wait=True, cancel_futures=True)
        took = self.finished - self.started
        finished = [f for f in self.futures.values() if f.done() and not f.cancelled()]
        slowest = max((f.result().seconds for f in finished if not f.exception()), default=0.0)
        return f"{len(self.selected)} rows in {took:.1f}s (slowest row {slowest:.1f}s)"
