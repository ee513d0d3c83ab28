"""One compose stack's life after its plan and config: build, pull, ``up``, logs, ``down``.

    build_services   ``compose build`` of the team's ``build:`` sections (the reference image is
                     the harness's own build, never compose's), its progress shown
    pull_missing     the images the stack only names, pulled when the engine lacks them (an
                     image that is here is used as it is: no registry is asked)
    start_stack      ``up -d --no-build`` with the gate's label override; a fixed host port or
                     container name that compose finds taken is said as such
    stop_stack       ``down -v --remove-orphans``, then by label whatever is left, on every path

Every command's output is streamed through ``log`` (scrubbed of the secrets) and bounded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.environments.docker.base import image_exists
from tasks.environments.docker.command import Completed, run_command, tolerant
from tasks.environments.docker.config import StackConfig
from tasks.environments.docker.engine import Engine, Log
from tasks.environments.docker.labels import LABEL_PROJECT, LABEL_SERVICE, list_stacks, remove_stack
from tasks.environments.docker.plan import StackPlan, write_labels_file
from tasks.settings.errors import BringUpError

if TYPE_CHECKING:
    from docker import DockerClient

LOG_TAIL = 20  # lines of each container's log in a bring-up error
BUILD_TIMEOUT = 900.0  # a team's first build may download and compile
PULL_TIMEOUT = 600.0
UP_TIMEOUT = 180.0  # `up -d` creates the containers (and any network); v1 is slow to start
DOWN_GRACE = 60.0  # on top of the stop timeout
TAKEN = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)
NAME_IN_USE = re.compile(r'container name "?/?([^" ]+)"? is already in use', re.IGNORECASE)


def _compose(plan: StackPlan, log: Log, argv: list[str], timeout: float) -> Completed:
    return run_command(
        argv,
        timeout=timeout,
        env=plan.env,
        cwd=plan.files[0].parent,
        log=lambda line: log(f"  compose: {line}"),
        scrub=plan.scrub,
    )


def _why(done: Completed, timeout: float) -> str:
    return f"timed out after {timeout:g}s" if done.timed_out else f"exit {done.returncode}"


def build_services(plan: StackPlan, config: StackConfig, log: Log) -> None:
    """``compose build`` for the stack's own ``build:`` sections (cached builds take a second)."""
    services = config.to_build()
    if not services:
        return
    log(f"docker: building {', '.join(services)} with {plan.compose.describe()}")
    head = ["--progress", "plain"] if plan.compose.family == "v2" else []
    start = time.monotonic()
    done = _compose(plan, log, plan.command("build", *services, head=head), BUILD_TIMEOUT)
    if done.returncode != 0:
        raise BringUpError(
            "docker",
            f"compose build of {', '.join(services)} failed ({_why(done, BUILD_TIMEOUT)})",
            done.tail(),
        )
    log(f"docker: built {', '.join(services)} in {time.monotonic() - start:.1f}s")


def pull_missing(engine: Engine, plan: StackPlan, config: StackConfig, log: Log) -> None:
    """Pull the images the stack names and the engine lacks; say which cannot be had."""
    missing = {s: i for s, i in config.to_pull().items() if not image_exists(engine.client, i)}
    if not missing:
        return
    log(f"docker: pulling {', '.join(sorted(set(missing.values())))}")
    done = _compose(plan, log, plan.command("pull", *missing), PULL_TIMEOUT)
    still = {s: i for s, i in missing.items() if not image_exists(engine.client, i)}
    if done.returncode != 0 or still:
        named = ", ".join(f"{s} ({i})" for s, i in sorted(still.items())) or ", ".join(missing)
        raise BringUpError(
            "docker",
            f"the image of {named} is not here and could not be pulled "
            f"({_why(done, PULL_TIMEOUT)}): `docker pull` or `docker load` it, or give the "
            "service a build: section",
            done.tail(),
        )


def start_stack(engine: Engine, plan: StackPlan, config: StackConfig, log: Log) -> None:
    """``up -d --no-build`` with the label override; BringUpError with its output if not."""
    log(f"docker: starting stack {plan.project} with {plan.compose.describe()}")
    write_labels_file(plan, list(config.services))
    done = _compose(plan, log, plan.command("up", "-d", "--no-build", labelled=True), UP_TIMEOUT)
    if done.returncode != 0:
        problem = f"compose up failed for {plan.project} ({_why(done, UP_TIMEOUT)})"
        if TAKEN.search(done.output):
            ports = sorted(
                str(p.published) for s in config.services.values() for p in s.ports if p.published
            )
            problem += (
                f": a host port it publishes ({', '.join(ports)}) was taken; a stack that "
                "publishes a fixed host port can run only once at a time on this machine"
            )
        elif found := NAME_IN_USE.search(done.output):
            problem += f": the container name {found[1]!r} is taken (a fixed container_name)"
        tails = container_tails(engine.client, plan)
        raise BringUpError(
            "docker",
            problem,
            "\n".join(filter(None, [done.tail(), tails])),
            str(save_logs(engine.client, plan)),
        )


def containers_of(client: DockerClient, project: str, service: str | None = None) -> list[str]:
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
    for cid in containers_of(client, plan.project):
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
    for cid in containers_of(client, plan.project):
        attrs = inspect_container(client, cid)
        raw = client.api.logs(cid, stdout=True, stderr=True, timestamps=True)
        text = plan.scrub(bytes(raw).decode(errors="replace"))
        chunks.append(f"==> {describe_container(attrs, cid)} <==\n{text.rstrip()}\n")
    plan.log_path.write_text("\n".join(chunks) or "(no containers)\n", encoding="utf-8")
    return plan.log_path


def published_address(attrs: Mapping[str, object], container_port: int) -> tuple[str, int] | None:
    network = attrs.get("NetworkSettings")
    ports = network.get("Ports") if isinstance(network, dict) else None
    bindings = ports.get(f"{container_port}/tcp") if isinstance(ports, dict) else None
    for binding in bindings or []:
        if binding.get("HostPort"):
            host = binding.get("HostIp") or "127.0.0.1"
            return ("127.0.0.1" if host in {"0.0.0.0", ""} else host), int(binding["HostPort"])  # noqa: S104
    return None


def stop_stack(engine: Engine, plan: StackPlan, log: Log, *, keep_logs: bool = True) -> list[str]:
    """``down -v --remove-orphans``, then remove by label whatever is left; the problems left."""
    log = tolerant(log)
    start = time.monotonic()
    log(f"docker: removing stack {plan.project} (down -v --remove-orphans -t {plan.stop_timeout})")
    if keep_logs:
        try:
            if containers_of(engine.client, plan.project):
                save_logs(engine.client, plan)
        except Exception as exc:  # the logs must not stand in the way of the teardown
            log(f"docker: WARNING: could not save the logs of {plan.project}: {exc}")
    done = run_command(
        plan.command("down", "-v", "--remove-orphans", "-t", str(plan.stop_timeout)),
        timeout=plan.stop_timeout + DOWN_GRACE,
        env=plan.env,
        cwd=plan.files[0].parent,
        scrub=plan.scrub,
    )
    plan.labels_path.unlink(missing_ok=True)
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
