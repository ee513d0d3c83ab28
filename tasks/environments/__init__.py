"""The environments a gate run may judge, and the choice between them.

    choose      which environment: a pure decision, observations in, decision and reasons out
    probes      health, WebSocket handshake + greeting, ping: bounded, timed, never a token shown
    local       the reference backend as a child process on a free loopback port
    staging     a remote deployment, probed, then judged
    docker/     a compose stack: built, started, found by label, judged, removed (its own
                __init__ draws its inside)

Each of local, staging and docker offers ``serve_<env>(settings, *, log, reason)``: a context
manager that brings the backend up, yields its ``tasks.target.Target`` and tears it down on every
path. Docker and staging are imported only when a run asks for them (the docker SDK is heavy).

They import the settings, the target, the signals and ``tasks.report.outputs``, never the gate.
"""
