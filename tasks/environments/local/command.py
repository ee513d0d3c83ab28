"""The team's own backend as a local process: ``MC_LOCAL_COMMAND``, ready when its probes pass.

The command was split by the settings as a shell would split it (``shlex``); no shell runs it.
``{host}`` and ``{port}`` in it are filled in with ``MC_LOCAL_HOST`` and a free port the harness
picks. It runs in ``MC_LOCAL_CWD`` (default: the repository root), in a process group of its own,
with the shell's variables (the gate's own keys removed) and the HS256 secret in the variable
``MC_LOCAL_SECRET_ENV`` names (default ``MC_JWT_SECRET``): never on its command line. Its stdout
and stderr go to one log file under the report dir, kept after the run.

It is ready when the dialect's readiness probes pass (``readiness``): the health path answers,
then a handshake with a minted token is greeted. It failing to start is one ``BringUpError``
naming MC_LOCAL_COMMAND with its last log lines: not found, not executable, exited before it
was ready, refused the probe's token, or not ready within ``MC_LOCAL_READY_TIMEOUT``.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.environments.failures import Hints
from tasks.environments.local.process import child_environment, stop_group, tail
from tasks.environments.probes import Plan
from tasks.environments.readiness import Ready, plan_readiness, wait_ready
from tasks.report.outputs import writing
from tasks.settings import Secret, Settings
from tasks.settings.errors import BringUpError

Log = Callable[[str], None]
KEY = "MC_LOCAL_COMMAND"
WHAT = f"the team's command ({KEY})"
COMMAND_LOG = "the team's backend's log (MC_REPORT_DIR)"
DEFAULT_SECRET_ENV = "MC_JWT_SECRET"
REJECTED = (
    "the command gets MC_JWT_SECRET's value in ${name} ({where}) and must accept HS256 tokens "
    "signed with it; check MC_LOCAL_SECRET_ENV"
)
PLAIN = re.compile(r"[\w@%+=:,./{}-]+")  # needs no quoting for a reader
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - what a wildcard bind is reached on


@dataclass(frozen=True)
class Command:
    """A started team command: the process group, where it listens, how it became ready."""

    process: subprocess.Popen[bytes]
    argv: tuple[str, ...]  # as run: {host} and {port} filled in (no secret is ever in it)
    host: str
    port: int
    log_path: Path
    started_at: float  # time.time() at spawn
    ready: Ready


def secret_variable(settings: Settings) -> str:
    return settings.local_secret_env or DEFAULT_SECRET_ENV


def working_folder(settings: Settings) -> Path:
    return settings.root / settings.local_cwd if settings.local_cwd else settings.root


def show_argv(argv: tuple[str, ...]) -> str:
    """A command line as a shell would read it back, its {placeholders} left bare."""
    return " ".join(arg if PLAIN.fullmatch(arg) else shlex.quote(arg) for arg in argv)


def describe_command(settings: Settings) -> str:
    """Whose backend: the command as the team wrote it, and where it runs (no secret in it)."""
    text = show_argv(settings.local_command)
    for secret in settings.secrets():
        text = text.replace(secret, "***")
    cwd = f"cwd {settings.local_cwd}" if settings.local_cwd else "cwd: the repository root"
    return f"command: {text} ({cwd})"


def pick_port(host: str) -> int:
    """A port free on ``host`` now (the command binds it a moment later)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.bind(address)
        port: int = probe.getsockname()[1]
    return port


def fill_in(argv: tuple[str, ...], host: str, port: int) -> tuple[str, ...]:
    return tuple(arg.replace("{host}", host).replace("{port}", str(port)) for arg in argv)


def _spawn(
    settings: Settings, argv: tuple[str, ...], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    cwd = working_folder(settings)
    with writing(COMMAND_LOG, log_path):
        settings.report_dir.mkdir(parents=True, exist_ok=True)
        output = log_path.open("wb")
    with output:
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # a group of its own: its workers are stopped with it
            )
        except FileNotFoundError:
            problem = f"{argv[0]!r} was not found (not on PATH, nor relative to {cwd})"
        except PermissionError:
            problem = f"{argv[0]!r} is not executable"
        except OSError as exc:
            problem = f"{argv[0]!r} cannot be run ({exc.strerror or exc})"
    log_path.unlink(missing_ok=True)
    raise BringUpError("local", f"{KEY}: {problem}")


def start_command(settings: Settings, *, secret: Secret, log: Log, port: int = 0) -> Command:
    """Start the team's command and return once it is ready (bounded); stopped on any failure.

    ``port`` 0: a free one, picked here."""
    host = settings.local_host
    port = port or pick_port(host)
    argv = fill_in(settings.local_command, host, port)
    name = secret_variable(settings)
    env = child_environment({name: secret.reveal()})
    log_path = settings.report_dir / f"local-command-{os.getpid()}.log"
    started_at = time.time()
    process = _spawn(settings, argv, env, log_path)
    where = settings.sources.get("MC_LOCAL_SECRET_ENV", "default")
    hints = Hints(rejected=REJECTED.format(name=name, where=where))

    def fail(problem: str) -> BringUpError:
        return BringUpError("local", problem, tail(log_path), str(log_path))

    def look(bound: float) -> Plan | str:
        code = process.poll()
        if code is not None:
            raise fail(f"{WHAT} exited with code {code} before it was ready")
        return plan_readiness(
            settings.dialect,
            host=WILDCARDS.get(host, host),
            port=port,
            secret=secret.reveal(),
            bound=bound,
            hints=hints,
            health_path=settings.health_path,
        )

    try:
        ready = wait_ready(
            look,
            timeout=settings.local_ready_timeout,
            log=lambda line: log(f"local: {line}"),
            what=WHAT,
            fail=fail,
        )
    except BaseException:
        stop_group(process)
        raise
    return Command(process, argv, host, port, log_path, started_at, ready)
