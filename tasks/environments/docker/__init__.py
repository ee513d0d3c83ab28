"""The docker environment: the compose stack built from this checkout, judged, and removed.

The gate and invoke use only what this module exports:

    observe_docker(settings) -> Observation        daemon (bounded) + compose, for auto
    serve_docker(settings, *, log, reason)         build, up, ready, yield Target, down (always)
    sweep_stale(settings, log) -> int              remove stacks that killed runs left behind
    build / up / down / logs / sweep               the same steps one at a time (invoke)

Inside, lowest first (an import only ever points down):

    command      every subprocess: bounded, streamed, in its own session, stopped on any exit
    engine       the daemon through the docker SDK (imported lazily), decided within a bound
    labels       this gate's stacks as the engine shows them: found by label, judged, removed
    base         the image the service is built on (present, pulled, or made with mmdebstrap)
    image        the service image: wheels, then the Dockerfile on that base, under a lock
    stack        one compose stack's life: plan, up, readiness, logs, down
    environment  the above as one gate run uses them
    steps        the same, one step at a time
"""

from __future__ import annotations

from tasks.environments.docker.environment import observe_docker, serve_docker, sweep_stale
from tasks.environments.docker.steps import build, down, logs, sweep, up

__all__ = ["build", "down", "logs", "observe_docker", "serve_docker", "sweep", "sweep_stale", "up"]
