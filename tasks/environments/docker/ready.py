"""A started stack's backend, probed until it is ready: found by service and container port.

The container is found by compose's labels (project and service, never by name: compose v1
names it ``proj_svc_1``, v2 ``proj-svc-1``), and its address is the host port its container port
is published on, ephemeral or fixed, looked up through the engine (a wildcard bind is reached on
127.0.0.1). Then ``readiness.wait_ready``: the dialect's probes, retried while their failures
are transient, up to MC_DOCKER_READY_TIMEOUT. A container that exits, or that docker's own
healthcheck finds unhealthy, fails the wait at once, as does a definitive refusal (the token
rejected: the hint names MC_JWT_SECRET and MC_DOCKER_SECRET_ENV). Compose's ``up --wait`` is not
used: compose v1 has none, and v2 leaves the stack running when it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.environments import readiness
from tasks.environments.docker.engine import Engine, Log
from tasks.environments.docker.plan import StackPlan
from tasks.environments.docker.stack import (
    container_tails,
    containers_of,
    inspect_container,
    published_address,
    save_logs,
)
from tasks.environments.failures import Hints
from tasks.environments.probes import Plan
from tasks.settings.errors import BringUpError

REJECTED = (
    "the stack must accept HS256 tokens signed with MC_JWT_SECRET's value, which compose gets "
    "as ${name}{how}"
)
NAME_IT = (
    "; if your compose file hands your backend its secret in a variable of its own, name that "
    "variable in MC_DOCKER_SECRET_ENV"
)


@dataclass(frozen=True)
class Ready:
    host: str
    port: int
    container: str
    version: str
    seconds: float


def hints_for(plan: StackPlan) -> Hints:
    """The keys a refused token points at, for this stack."""
    if plan.secret_env:
        how = f" and ${plan.secret_env} (MC_DOCKER_SECRET_ENV)"
        return Hints(rejected=REJECTED.format(name="MC_JWT_SECRET", how=how))
    return Hints(rejected=REJECTED.format(name="MC_JWT_SECRET", how=NAME_IT))


def wait_ready(engine: Engine, plan: StackPlan, timeout: float, log: Log) -> Ready:
    """Probe until health and a greeted handshake pass; BringUpError with the logs if not."""
    found: dict[str, str] = {}
    address: list[tuple[str, int]] = []
    hints = hints_for(plan)

    def fail(problem: str) -> BringUpError:
        tails = container_tails(engine.client, plan)
        return BringUpError("docker", problem, tails, str(save_logs(engine.client, plan)))

    def look(bound: float) -> Plan | str:
        ids = containers_of(engine.client, plan.project, plan.service)
        attrs = inspect_container(engine.client, ids[0]) if ids else {}
        state = attrs.get("State")
        if not isinstance(state, dict):
            return f"no {plan.service} container yet"
        status, health = str(state.get("Status")), state.get("Health")
        if status in {"exited", "dead"}:
            code = state.get("ExitCode")
            raise fail(f"{plan.service} {status} with code {code} before it was ready")
        if isinstance(health, dict) and health.get("Status") == "unhealthy":
            raise fail(f"docker's healthcheck found {plan.service} unhealthy")
        published = published_address(attrs, plan.container_port)
        if published is None:
            return f"port {plan.container_port} not published yet ({status})"
        found["container"] = ids[0]
        address[:] = [published]
        host, port = published
        secret = plan.env["MC_JWT_SECRET"]
        return readiness.plan_readiness(
            plan.dialect,
            host=host,
            port=port,
            secret=secret,
            bound=bound,
            hints=hints,
            health_path=plan.health_path,
        )

    ready = readiness.wait_ready(
        look, timeout=timeout, log=lambda line: log(f"docker: {line}"), what=plan.service, fail=fail
    )
    (host, port), container = address[0], found["container"]
    return Ready(host, port, container=container, version=ready.version, seconds=ready.seconds)
