"""The docker environment: a compose stack (this checkout's, or the team's), judged, and removed.

The gate and invoke use only what this module exports:

    observe_docker(settings) -> Observation        daemon (bounded) + compose, for auto
    serve_docker(settings, *, log, reason)         check, build, up, ready, yield Target, down
    sweep_stale(settings, log) -> int              remove stacks that killed runs left behind
    build / up / down / logs / sweep               the same steps one at a time (invoke)

Inside, lowest first (an import only ever points down):

    command      every subprocess: bounded, streamed, in its own session, stopped on any exit
    engine       the daemon through the docker SDK (imported lazily), decided within a bound
    compose      which compose runs the stack, and whether it can work with this engine
    labels       this gate's stacks as the engine shows them: found by project label and the
                 gate's labels, judged stale, removed
    base         the image the reference backend is built on (present, pulled, or mmdebstrap)
    image        the reference backend's image: wheels, then the Dockerfile, under a lock
    plan         one stack's plan: project name, compose files, the variables compose gets
    config       the stack as compose reads it (`config`), and what is checked before `up`
    stack        its life: compose's builds and pulls, `up`, logs, `down`
    ready        its backend found by service and port, probed until ready
    environment  the above as one gate run uses them
    steps        the same, one step at a time
"""

from __future__ import annotations

from tasks.environments.docker.environment import observe_docker, serve_docker, sweep_stale
from tasks.environments.docker.steps import build, down, logs, sweep, up

__all__ = ["build", "down", "logs", "observe_docker", "serve_docker", "sweep", "sweep_stale", "up"]
