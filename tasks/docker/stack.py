"""One compose stack's life: plan, ``up``, readiness, logs, ``down``.

The readiness probes are the staging probes (``tasks.probes``) aimed at the published port:
``/health``, then the WebSocket handshake with a token, its greeting and a ping.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.docker.command import run_command, tolerant
from tasks.docker.compose import Compose
from tasks.docker.engine import Engine, Log
from tasks.docker.labels import LABEL_PROJECT, LABEL_SERVICE, list_stacks, remove_stack
from tasks.errors import BringUpError
from tasks.settings import KEYS, Secret, Settings

if TYPE_CHECKING:
    from docker import DockerClient

HEALTH_PATH = "/health"
WS_PATH = "/ws"
PROBE_BOUND = 2.0  # seconds for one readiness probe
PROGRESS_EVERY = 5.0
LOG_TAIL = 20  # lines of each container's log in a bring-up error
UP_TIMEOUT = 180.0  # `up -d` creates a network and containers; v1 is slow to start
DOWN_GRACE = 60.0  # on top of the stop timeout
READY_SUBJECT = "mc-docker-ready"


@dataclass(frozen=True)
class StackPlan:
    project: str
    compose: Compose
    compose_file: Path
    env_file: Path
    service: str
    container_port: int
    stop_timeout: int
    log_path: Path
    env: Mapping[str, str] = field(repr=False)  # holds the secret: for compose only
    secrets: tuple[str, ...] = field(repr=False)

    def command(self, *args: str) -> list[str]:
        head = ["--project-name", self.project, "--file", str(self.compose_file)]
        return [*self.compose.argv, *head, "--env-file", str(self.env_file), *args]

    def scrub(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "***")
        return text


def _resolve(settings: Settings, path: Path) -> Path:
    return path if path.is_absolute() else settings.root / path


def plan_stack(
    settings: Settings,
    compose: Compose,
    *,
    secret: Secret,
    image: str,
    base_image: str,
    project: str | None = None,
    owned: bool = True,
) -> StackPlan:
    """Names, files and the variables compose.yaml reads (``owned``: labelled with our pid)."""
    project = project or f"mcg-{os.getpid()}-{secrets.token_hex(3)}"
    compose_file = _resolve(settings, settings.docker_compose_file)
    if not compose_file.is_file():
        raise BringUpError("docker", f"no compose file at {compose_file} (MC_DOCKER_COMPOSE_FILE)")
    env_file = settings.root / ".env.docker"
    if not env_file.is_file():  # compose must not read the personal .env; v1 wants a real file
        env_file = settings.root / ".cache" / "docker" / "compose.env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.touch()
    env = {k: v for k, v in os.environ.items() if k not in KEYS and not k.startswith("MC_")}
    env.update(
        {
            "MC_JWT_SECRET": secret.reveal(),
            "MC_EVENT_SHAPE": settings.event_shape,
            "MC_DOCKER_PORT": str(settings.docker_port),
            "MC_DOCKER_IMAGE": image,
            "MC_DOCKER_BASE_IMAGE": base_image,
            "MC_STACK_STARTED": str(int(time.time())),
            "MC_STACK_OWNER_PID": str(os.getpid()) if owned else "",
            "MC_STACK_OWNER_HOST": socket.gethostname(),
        }
    )
    report_dir = _resolve(settings, settings.report_dir)
    return StackPlan(
        project=project,
        compose=compose,
        compose_file=compose_file,
        env_file=env_file,
        service=settings.docker_service,
        container_port=settings.docker_port,
        stop_timeout=settings.docker_stop_timeout,
        log_path=report_dir / f"docker-{project}.log",
        env=env,
        secrets=tuple(s for s in (secret.reveal(), *settings.secrets()) if s),
    )


def start_stack(engine: Engine, plan: StackPlan, log: Log) -> None:
    """``up -d --no-build`` (the image is built already); BringUpError with its output if not."""
    log(f"docker: starting stack {plan.project} with {plan.compose.describe()}")
    done = run_command(
        plan.command("up", "-d", "--no-build"),
        timeout=UP_TIMEOUT,
        env=plan.env,
        cwd=plan.compose_file.parent,
        log=lambda line: log(f"  compose: {line}"),
        scrub=plan.scrub,
    )
    if done.returncode != 0:
        why = f"timed out after {UP_TIMEOUT:g}s" if done.timed_out else f"exit {done.returncode}"
        tails = container_tails(engine.client, plan)
        raise BringUpError(
            "docker",
            f"compose up failed for {plan.project} ({why})",
            "\n".join(filter(None, [done.tail(), tails])),
            str(save_logs(engine.client, plan)),
        )


def _containers(client: DockerClient, project: str, service: str | None = None) -> list[str]:
    labels = [f"{LABEL_PROJECT}={project}"] + ([f"{LABEL_SERVICE}={service}"] if service else [])
    found = client.api.containers(all=True, filters={"label": labels})
    return [str(item["Id"]) for item in found]


def inspect_container(client: DockerClient, container_id: str) -> dict[str, object]:
    from docker.errors import NotFound  # noqa: PLC0415

    try:
        attrs = client.containers.get(container_id).attrs
    except NotFound:
        return {}
    return dict(attrs)


def container_tails(client: DockerClient, plan: StackPlan, lines: int = LOG_TAIL) -> str:
    """The last lines of each container's log, headed by its name and state."""
    parts = []
    for cid in _containers(client, plan.project):
        attrs = inspect_container(client, cid)
        raw = client.api.logs(cid, stdout=True, stderr=True, tail=lines)
        text = plan.scrub(bytes(raw).decode(errors="replace")).rstrip()
        body = "\n".join(f"  | {line}" for line in text.splitlines()) or "  | (no output)"
        parts.append(f"{describe_container(attrs, cid)}, last {lines} log lines:\n{body}")
    return "\n".join(parts)


def describe_container(attrs: Mapping[str, object], cid: str) -> str:
    name = str(attrs.get("Name", cid[:12])).lstrip("/")
    state = attrs.get("State")
    if not isinstance(state, dict):
        return name
    status = str(state.get("Status", "?"))
    if status == "exited":
        status += f" with code {state.get('ExitCode')}"
    health = state.get("Health")
    if isinstance(health, dict):
        status += f", {health.get('Status')}"
    return f"{name} ({status})"


def save_logs(client: DockerClient, plan: StackPlan) -> Path:
    """Every container's whole log, with timestamps, in one file under the report dir."""
    plan.log_path.parent.mkdir(parents=True, exist_ok=True)
    chunks = []
    for cid in _containers(client, plan.project):
        attrs = inspect_container(client, cid)
        raw = client.api.logs(cid, stdout=True, stderr=True, timestamps=True)
        text = plan.scrub(bytes(raw).decode(errors="replace"))
        chunks.append(f"==> {describe_container(attrs, cid)} <==\n{text.rstrip()}\n")
    plan.log_path.write_text("\n".join(chunks) or "(no containers)\n", encoding="utf-8")
    return plan.log_path


# ---- readiness --------------------------------------------------------------------------------


def _published(attrs: Mapping[str, object], container_port: int) -> tuple[str, int] | None:
    network = attrs.get("NetworkSettings")
    ports = network.get("Ports") if isinstance(network, dict) else None
    bindings = ports.get(f"{container_port}/tcp") if isinstance(ports, dict) else None
    for binding in bindings or []:
        if binding.get("HostPort"):
            host = binding.get("HostIp") or "127.0.0.1"
            return ("127.0.0.1" if host in {"0.0.0.0", ""} else host), int(binding["HostPort"])  # noqa: S104
    return None


def _probe(host: str, port: int, secret: str, bound: float) -> tuple[str | None, str]:
    """(problem or None, backend version) for the health endpoint, then the handshake + ping."""
    from tasks.probes import Plan, probe_health, probe_socket  # noqa: PLC0415
    from tasks.staging import mint_token  # noqa: PLC0415

    token = mint_token(secret, READY_SUBJECT, lifetime=120)
    base = f"http://{host}:{port}"
    plan = Plan(
        ws_url=f"ws://{host}:{port}{WS_PATH}",
        http_url=base,
        health_url=base + HEALTH_PATH,
        bound=bound,
        auth=f"HS256 token (sub={READY_SUBJECT})",
        token=token,
        context=None,
        insecure_ok=False,
        secrets=(token, secret),
    )
    health = probe_health(plan)
    if health.outcome != "pass":
        return f"health: {health.detail}", ""
    for result in probe_socket(plan):
        if result.outcome != "pass":
            return f"{result.probe}: {result.detail}", ""
    return None, health.facts.get("backend_version", "")


@dataclass(frozen=True)
class Ready:
    host: str
    port: int
    container: str
    version: str
    seconds: float


def wait_ready(engine: Engine, plan: StackPlan, timeout: float, log: Log) -> Ready:
    """Probe until health and handshake pass, the container dies, or ``timeout`` passes."""
    start = time.monotonic()
    deadline = start + timeout
    next_note = start + PROGRESS_EVERY
    pause = 0.05
    seen = "no container yet"
    while True:
        found = _containers(engine.client, plan.project, plan.service)
        attrs = inspect_container(engine.client, found[0]) if found else {}
        state = attrs.get("State")
        if isinstance(state, dict):
            status = str(state.get("Status"))
            health = state.get("Health")
            if status in {"exited", "dead"}:
                what = f"{plan.service} {status} with code {state.get('ExitCode')}"
                raise _not_ready(engine, plan, f"{what} before it was ready (last probe: {seen})")
            if isinstance(health, dict) and health.get("Status") == "unhealthy":
                what = f"docker's healthcheck found {plan.service} unhealthy"
                raise _not_ready(engine, plan, f"{what} (last probe: {seen})")
            address = _published(attrs, plan.container_port)
            if address is None:
                seen = f"port {plan.container_port} not published yet ({status})"
            else:
                bound = max(0.05, min(PROBE_BOUND, deadline - time.monotonic()))
                problem, version = _probe(*address, plan.env["MC_JWT_SECRET"], bound)
                if problem is None:
                    took = time.monotonic() - start
                    return Ready(*address, container=found[0], version=version, seconds=took)
                seen = problem
        now = time.monotonic()
        if now >= deadline:
            raise _not_ready(
                engine, plan, f"{plan.service} not ready within {timeout:g}s (last probe: {seen})"
            )
        if now >= next_note:
            log(f"docker: waiting for {plan.service} ({now - start:.0f}s of {timeout:g}s): {seen}")
            next_note = now + PROGRESS_EVERY
        time.sleep(min(pause, deadline - now))
        pause = min(pause * 2, 0.5)


def _not_ready(engine: Engine, plan: StackPlan, problem: str) -> BringUpError:
    tails = container_tails(engine.client, plan)
    return BringUpError("docker", problem, tails, str(save_logs(engine.client, plan)))


def stop_stack(engine: Engine, plan: StackPlan, log: Log, *, keep_logs: bool = True) -> list[str]:
    """``down -v --remove-orphans``, then remove by label whatever is left; the problems left."""
    log = tolerant(log)
    start = time.monotonic()
    log(f"docker: removing stack {plan.project} (down -v --remove-orphans -t {plan.stop_timeout})")
    if keep_logs:
        try:
            if _containers(engine.client, plan.project):
                save_logs(engine.client, plan)
        except Exception as exc:  # the logs must not stand in the way of the teardown
            log(f"docker: WARNING: could not save the logs of {plan.project}: {exc}")
    done = run_command(
        plan.command("down", "-v", "--remove-orphans", "-t", str(plan.stop_timeout)),
        timeout=plan.stop_timeout + DOWN_GRACE,
        env=plan.env,
        cwd=plan.compose_file.parent,
        scrub=plan.scrub,
    )
    if done.returncode != 0:
        why = "timed out" if done.timed_out else f"exit {done.returncode}"
        log(f"docker: compose down failed ({why}); removing {plan.project} through the engine")
        log(done.tail(5))
    problems: list[str] = []
    try:
        for stack in list_stacks(engine.client, plan.project):
            log(f"docker: {plan.project} still had {stack.describe()} after down; removing them")
            problems += remove_stack(engine.client, stack)
        if problems or list_stacks(engine.client, plan.project):
            problems.append(f"stack {plan.project} not fully removed")
    except Exception as exc:
        problems.append(f"could not check what is left of {plan.project}: {exc}")
    log(f"docker: stack {plan.project} removed in {time.monotonic() - start:.1f}s")
    return problems
