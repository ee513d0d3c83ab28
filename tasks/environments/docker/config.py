"""What a stack is, as compose itself reads it (``compose config``), and what is checked of it
before anything is built or started.

``read_config`` runs ``config`` with the stack's variables (``MC_DOCKER_IMAGE`` set to
``plan.PLANNED_IMAGE``) and reads what it prints (YAML: compose v1 prints nothing else) into a
``StackConfig``: each service's image, whether it has a ``build:`` section, its published ports
and any fixed ``container_name``. From that, before the sweep, the build or ``up``:

* ``MC_DOCKER_SERVICE`` must be one of its services, and ``MC_DOCKER_PORT`` one of the container
  ports that service publishes (on an ephemeral or a fixed host port);
* a fixed host port that is already taken fails at once, naming the port and the fix (a stack
  that publishes one can run only once at a time on this machine);
* a fixed ``container_name`` defeats the unique project name: it is said, and one already in
  use fails at once, naming what holds it.

The same config says whether the stack runs the reference backend's image (a service whose
image is the planned one), which is then built, and only then.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tasks.environments.docker.command import run_command
from tasks.environments.docker.engine import Log
from tasks.environments.docker.labels import LABEL_PROJECT, is_gate_project
from tasks.environments.docker.plan import PLANNED_IMAGE, StackPlan
from tasks.settings import Settings
from tasks.settings.errors import BringUpError, SettingsError

if TYPE_CHECKING:
    from docker import DockerClient

CONFIG_TIMEOUT = 60.0  # `config`: compose reads the files, starts nothing
CONFIG_SECRET = "mc-config-stand-in-for-the-secret"  # what `config` sees instead of it
NO_SUCH_SERVICE = "{service!r} is not a service of {files} (its services: {services})"
NOT_PUBLISHED = (
    "service {service} of {files} publishes no container port {port} ({published}); set "
    "MC_DOCKER_PORT to the port the backend listens on in its container{fix}"
)
PUBLISH_FIX = (
    ', or publish it in an override file of your own (`ports: ["127.0.0.1::{port}"]`) and add '
    "that file to MC_DOCKER_COMPOSE_FILE (a:b)"
)
PORT_TAKEN = (
    "host port {port}, which service {service} publishes ({files}), is taken{holder}: free it "
    "(`ss -ltnp 'sport = :{port}'` shows who holds it), or wait for the run that holds it. A "
    "stack that publishes a fixed host port can run only once at a time on this machine: two "
    "runs of it cannot share the port (docs/teams.md)"
)
NAME_TAKEN = (
    "container name {name!r} (service {service}'s container_name in {files}) is taken by "
    "{holder}: a fixed container_name lets only one copy of the stack exist on this engine; "
    "remove that container, or drop container_name in an override file"
)
FIXED_NAME = (
    "service {service} has a fixed container_name ({name!r}), which the unique project name "
    "cannot keep apart: only one run of this stack can exist on this engine at a time"
)
READ_FAILED = "compose cannot read {files} ({why})"
SECRET_HINT = (
    "if a variable it requires is your backend's secret, name it in MC_DOCKER_SECRET_ENV: the "
    "harness exports MC_JWT_SECRET's value under that name"
)


@dataclass(frozen=True)
class Port:
    target: int  # the container port
    published: int | None  # the host port; None: an ephemeral one
    host_ip: str  # "" = every address
    protocol: str

    def describe(self) -> str:
        host = f"fixed host port {self.published}" if self.published else "an ephemeral host port"
        return f"{self.target} on {host}"


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    image: str
    build: bool
    ports: tuple[Port, ...]
    container_name: str

    @property
    def reference(self) -> bool:
        """Whether it runs the reference backend's image (which the harness builds)."""
        return self.image == PLANNED_IMAGE


@dataclass(frozen=True)
class StackConfig:
    services: Mapping[str, ServiceConfig]

    @property
    def uses_reference_image(self) -> bool:
        return any(service.reference for service in self.services.values())

    def to_build(self) -> list[str]:
        """The services compose builds: those with ``build:`` that are not the reference."""
        return [s.name for s in self.services.values() if s.build and not s.reference]

    def to_pull(self) -> dict[str, str]:
        """service -> image, for the services that only name an image (pulled if missing;
        the reference image is the harness's own build)."""
        return {
            s.name: s.image
            for s in self.services.values()
            if s.image and not s.build and not s.reference
        }


# ---- reading -------------------------------------------------------------------------------


def _ports(raw: object) -> tuple[Port, ...]:
    """Compose's ports, long or short syntax (v1 prints both), ranges expanded; tcp and udp."""
    found: list[Port] = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, dict):
            target, published = str(entry.get("target", "")), str(entry.get("published") or "")
            host_ip, protocol = str(entry.get("host_ip") or ""), str(entry.get("protocol") or "tcp")
        else:
            text, _, protocol = str(entry).partition("/")
            *head, target = text.rsplit(":", 2)
            host_ip, published = (head[0], head[1]) if len(head) == 2 else ("", "".join(head))
            protocol = protocol or "tcp"
        targets, hosts = _range(target), _range(published)
        for index, port in enumerate(targets):
            host = hosts[index] if len(hosts) == len(targets) else (hosts[0] if hosts else None)
            found.append(Port(port, host, host_ip.strip("[]"), protocol))
    return tuple(found)


def _range(text: str) -> list[int]:
    low, _, high = text.strip().partition("-")
    if not low.isdigit():
        return []
    return list(range(int(low), int(high or low) + 1)) if not high or high.isdigit() else []


def parse_config(text: str) -> StackConfig:
    """What ``compose config`` printed, read (ValueError when it is not a compose model)."""
    import yaml  # noqa: PLC0415 - only when a stack is asked about

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"its output is not YAML ({str(exc).splitlines()[0]})") from None
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ValueError("its output names no services")  # noqa: TRY004 - a bad value
    return StackConfig(
        {
            str(name): ServiceConfig(
                name=str(name),
                image=str(body.get("image") or ""),
                build=bool(body.get("build")),
                ports=_ports(body.get("ports")),
                container_name=str(body.get("container_name") or ""),
            )
            for name, body in services.items()
            if isinstance(body, dict)
        }
    )


def read_config(plan: StackPlan) -> StackConfig:
    """The stack as compose reads it (its variables interpolated, its files merged).

    Compose prints every value it interpolated, so it is given a stand-in for the secret: its
    output then holds no secret, and is parsed as it came (``***`` would be YAML's alias)."""
    env = dict(plan.env)
    for name in ("MC_JWT_SECRET", plan.secret_env):
        if name:
            env[name] = CONFIG_SECRET
    done = run_command(
        plan.command("config"), timeout=CONFIG_TIMEOUT, env=env, cwd=plan.files[0].parent
    )
    files = plan.describe_files()
    if done.returncode != 0:
        why = "timed out" if done.timed_out else f"exit {done.returncode}"
        said = done.output.lower()  # v2: "required variable X is missing a value"; v1 below
        lacks = "required variable" in said or "missing mandatory value" in said
        hint = SECRET_HINT if lacks else ""
        detail = "\n".join(filter(None, [done.tail(), hint]))
        raise BringUpError("docker", READ_FAILED.format(files=files, why=why), detail)
    try:
        return parse_config(done.output)
    except (ValueError, AttributeError) as exc:
        raise BringUpError("docker", READ_FAILED.format(files=files, why=str(exc))) from None


# ---- checks --------------------------------------------------------------------------------


def check_backend(settings: Settings, plan: StackPlan, config: StackConfig) -> ServiceConfig:
    """MC_DOCKER_SERVICE is a service of the stack, and publishes MC_DOCKER_PORT."""
    files = plan.describe_files()
    service = config.services.get(plan.service)
    if service is None:
        services = ", ".join(config.services) or "none"
        problem = NO_SUCH_SERVICE.format(service=plan.service, files=files, services=services)
        where = settings.sources.get("MC_DOCKER_SERVICE", "default")
        raise SettingsError(where, "MC_DOCKER_SERVICE", problem)
    tcp = [p for p in service.ports if p.protocol == "tcp"]
    if not any(p.target == plan.container_port for p in tcp):
        published = ", ".join(p.describe() for p in tcp)
        problem = NOT_PUBLISHED.format(
            service=plan.service,
            files=files,
            port=plan.container_port,
            published=f"it publishes {published}" if tcp else "it publishes none",
            fix=PUBLISH_FIX.format(port=plan.container_port),
        )
        where = settings.sources.get("MC_DOCKER_PORT", "default")
        raise SettingsError(where, "MC_DOCKER_PORT", problem)
    return service


def check_fixed_names(client: DockerClient, plan: StackPlan, config: StackConfig, log: Log) -> None:
    """Say what a fixed container_name means; fail at once when one is in use already."""
    for service in config.services.values():
        name = service.container_name
        if not name:
            continue
        log(f"docker: note: {FIXED_NAME.format(service=service.name, name=name)}")
        holders = client.api.containers(all=True, filters={"name": f"^/{name}$"})
        if holders:
            labels = holders[0].get("Labels") or {}
            project = labels.get(LABEL_PROJECT, "")
            holder = f"a container of compose project {project}" if project else "a container"
            if is_gate_project(project):
                holder += " (another run of the gate)"
            raise BringUpError(
                "docker",
                NAME_TAKEN.format(
                    name=name, service=service.name, files=plan.describe_files(), holder=holder
                ),
            )


def check_host_ports(client: DockerClient, plan: StackPlan, config: StackConfig) -> None:
    """Every fixed host port the stack publishes is free now (else: which, who, the fix)."""
    for service in config.services.values():
        for port in service.ports:
            if port.published is None or port.protocol != "tcp" or not _taken(port):
                continue
            raise BringUpError(
                "docker",
                PORT_TAKEN.format(
                    port=port.published,
                    service=service.name,
                    files=plan.describe_files(),
                    holder=_holder(client, port.published),
                ),
            )


def _taken(port: Port) -> bool:
    host = port.host_ip or "0.0.0.0"  # noqa: S104 - where docker would bind it
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as a listener binds (docker-proxy's too): a closed connection's TIME_WAIT is no owner
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port.published or 0))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _holder(client: DockerClient, port: int) -> str:
    """Who publishes ``port``, when it is a container (a gate run's, or another project's)."""
    for item in client.api.containers(filters={"publish": str(port)}):
        labels: dict[str, Any] = item.get("Labels") or {}
        project = str(labels.get(LABEL_PROJECT, ""))
        name = str((item.get("Names") or ["?"])[0]).lstrip("/")
        if is_gate_project(project):
            return f" by container {name} of {project}, another run of the gate"
        return f" by container {name}" + (f" of compose project {project}" if project else "")
    return ""
