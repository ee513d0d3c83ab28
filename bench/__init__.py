"""Benchmarks of the gate: time to a verdict, side by side with what people use today.

    python -m bench [--quick] [--only NAME,...]     (or `nox -s bench`)

    unavailable   how fast the daemon check decides Docker is not there (missing, hung)
    readiness     the harness's ready moment minus the backend's own listening moment
    wake          how late staging's wake phase notices that a sleeping deployment can serve
    runs          time to verdict of mission_critical-local/-docker, and the soak of both
    load          the concurrent-users check at 100 and 1,000 users vs a bare client

Each module returns ``figures.Metric`` values; ``__main__`` merges them into bench/results.json
and regenerates the generated half of docs/benchmarks.md (``table``).
"""
