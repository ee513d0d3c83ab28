"""This gate's stacks as the engine shows them: found by label, judged stale, removed.

A stack is a compose project the gate named ``mcg-<pid>-<random>``, so everything compose made
for it (containers, networks, named volumes) carries compose's own project label with that
prefix, whatever the team's compose file says. Its containers also carry the gate's
``mission-critical-gate.*`` labels (put on every service by a generated override, ``plan``): the
start time, and the pid and host of the run that owns it. A project whose pieces carry none of
them (a run killed before its containers were made) is known by the pid in its name and the
age of its pieces. The sweep and the teardown's last resort work from these alone, through the
engine API, so they need neither compose nor the compose files the stack was made from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docker import DockerClient

LABEL_STACK = "mission-critical-gate.stack"
LABEL_STARTED = "mission-critical-gate.started"
LABEL_OWNER_PID = "mission-critical-gate.owner-pid"
LABEL_OWNER_HOST = "mission-critical-gate.owner-host"
LABEL_PROJECT = "com.docker.compose.project"  # set by every compose, v1 and v2
LABEL_SERVICE = "com.docker.compose.service"
PROJECT_PREFIX = "mcg-"  # every project the gate names: mcg-<pid>-<random>
_OWNER_IN_NAME = re.compile(rf"{PROJECT_PREFIX}(\d+)-")


@dataclass(frozen=True)
class Stack:
    """One compose project of this gate, as the engine shows it."""

    project: str
    started: float  # epoch seconds from the label; 0 when unknown
    owner_pid: int | None
    owner_host: str
    containers: tuple[str, ...]  # ids
    networks: tuple[str, ...]  # ids
    volumes: tuple[str, ...]  # names

    def describe(self) -> str:
        return (
            f"{len(self.containers)} container(s), {len(self.networks)} network(s), "
            f"{len(self.volumes)} volume(s)"
        )


def _label_float(labels: Mapping[str, str], key: str) -> float:
    try:
        return float(labels.get(key) or 0)
    except ValueError:
        return 0.0


def _label_int(labels: Mapping[str, str], key: str) -> int | None:
    try:
        return int(labels.get(key) or "") or None
    except ValueError:
        return None


@dataclass
class _Pieces:
    labels: dict[str, str] = field(default_factory=dict)
    created: list[float] = field(default_factory=list)  # epoch seconds of each piece
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?")


def _created(item: Mapping[str, Any], key: str) -> float | None:
    """An engine listing's creation time (epoch seconds, or RFC 3339 text) as epoch seconds."""
    value = item.get(key)
    if isinstance(value, (int, float)):
        return float(value)
    found = _STAMP.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return None
    zone = (found[2] or "Z").replace("Z", "+00:00")
    return datetime.fromisoformat(found[1] + zone).timestamp()


def is_gate_project(name: str) -> bool:
    return name.startswith(PROJECT_PREFIX)


def list_stacks(client: DockerClient, project: str | None = None) -> list[Stack]:
    """This gate's stacks (``project`` given: that one only, found by compose's project label).

    Without a project: every project named with the gate's prefix, and any that carries the
    gate's stack label, from the containers, networks and volumes the engine lists.
    """
    label = f"{LABEL_PROJECT}={project}" if project else LABEL_PROJECT
    found: dict[str, _Pieces] = {}

    def pieces_of(item: Mapping[str, Any], created: str) -> _Pieces | None:
        labels = item.get("Labels") or {}
        name = labels.get(LABEL_PROJECT)
        ours = is_gate_project(name or "") or labels.get(LABEL_STACK) == "1"
        if not name or (project is None and not ours):
            return None
        pieces = found.setdefault(name, _Pieces())
        if LABEL_STARTED in labels and not pieces.labels:
            pieces.labels.update(labels)
        if (at := _created(item, created)) is not None:
            pieces.created.append(at)
        return pieces

    for item in client.api.containers(all=True, filters={"label": label}):
        if pieces := pieces_of(item, "Created"):
            pieces.containers.append(item["Id"])
    for item in client.api.networks(filters={"label": label}):
        if pieces := pieces_of(item, "Created"):
            pieces.networks.append(item["Id"])
    for item in client.api.volumes(filters={"label": label}).get("Volumes") or []:
        # a volume compose made for the stack carries the project label, not the gate's
        name = (item.get("Labels") or {}).get(LABEL_PROJECT, "")
        pieces = found.get(name) if name in found else pieces_of(item, "CreatedAt")
        if pieces is not None:
            pieces.volumes.append(item["Name"])

    return [_stack(name, pieces) for name, pieces in sorted(found.items())]


def _stack(name: str, pieces: _Pieces) -> Stack:
    """The stack's facts: from the gate's labels, else from its name and its pieces' ages."""
    labels = pieces.labels
    started = _label_float(labels, LABEL_STARTED) if labels else min(pieces.created, default=0.0)
    owner = _label_int(labels, LABEL_OWNER_PID) if labels else None
    if owner is None and not labels and (match := _OWNER_IN_NAME.match(name)):
        owner = int(match[1])
    return Stack(
        project=name,
        started=started,
        owner_pid=owner,
        owner_host=labels.get(LABEL_OWNER_HOST, ""),
        containers=tuple(pieces.containers),
        networks=tuple(pieces.networks),
        volumes=tuple(pieces.volumes),
    )


def remove_stack(client: DockerClient, stack: Stack) -> list[str]:
    """Force-remove everything of ``stack``; returns the problems (already gone is no problem)."""
    from docker.errors import APIError, NotFound  # noqa: PLC0415 - the SDK only when asked

    problems: list[str] = []
    steps: list[tuple[str, Callable[[], object]]] = [
        *(
            (f"container {c[:12]}", partial(client.api.remove_container, c, v=True, force=True))
            for c in stack.containers
        ),
        *((f"network {n[:12]}", partial(client.api.remove_network, n)) for n in stack.networks),
        *((f"volume {v}", partial(client.api.remove_volume, v, force=True)) for v in stack.volumes),
    ]
    for what, step in steps:
        try:
            step()
        except NotFound:
            continue
        except APIError as exc:
            problems.append(f"{what}: {exc.explanation or exc}")
    return problems


def _process_alive(pid: int, since: float) -> bool:
    """Whether ``pid`` runs and was started no later than ``since`` (a reused pid is not it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return True
    return started <= since + 2  # the label holds whole seconds; ticks round


def stale_reason(stack: Stack, *, max_age: float, now: float, host: str) -> str | None:
    """Why ``stack`` is stale, or None: its owner on this host is gone, or it is old and unowned."""
    if stack.owner_pid and stack.owner_host == host:
        if _process_alive(stack.owner_pid, stack.started):
            return None
        return f"its run (pid {stack.owner_pid}) is gone"
    age = now - stack.started
    if age > max_age:
        return f"started {age:.0f}s ago (MC_DOCKER_SWEEP_AGE={max_age:g})"
    return None
