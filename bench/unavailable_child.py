"""One daemon check in a fresh interpreter: ``python -m bench.unavailable_child harness|anchor``.

Prints one JSON line: the milliseconds from the call to the verdict (the docker SDK's import
included: nothing has imported it yet), and the verdict's first line.

* harness: ``tasks.environments.observe("docker", settings)``, the call the gate makes for auto (it
  imports ``tasks.environments.docker`` and the SDK lazily, then ``observe_docker``); settings
  are loaded first, as the gate does before it decides.
* anchor: ``docker.from_env()`` with its defaults, then ``.ping()`` (what testcontainers does).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Literal

Who = Literal["harness", "anchor"]


def check_harness() -> tuple[float, bool, str]:
    from tasks import environments, gate  # noqa: PLC0415, F401 - before the clock, as nox has it
    from tasks.settings import load_settings  # noqa: PLC0415

    settings = load_settings()
    started = time.perf_counter()
    seen = environments.observe("docker", settings)
    took = time.perf_counter() - started
    return took, seen.usable, seen.reason.splitlines()[0]


def check_anchor() -> tuple[float, bool, str]:
    started = time.perf_counter()
    try:
        import docker  # noqa: PLC0415 - the import is part of what is measured

        docker.from_env().ping()
    except Exception as exc:
        took = time.perf_counter() - started
        return took, False, (str(exc).splitlines() or [type(exc).__name__])[0]
    return time.perf_counter() - started, True, "daemon answered"


def main(argv: list[str]) -> int:
    if argv not in (["harness"], ["anchor"]):
        print("usage: python -m bench.unavailable_child harness|anchor", file=sys.stderr)
        return 2
    took, usable, verdict = check_harness() if argv[0] == "harness" else check_anchor()
    print(json.dumps({"ms": took * 1000, "usable": usable, "verdict": verdict[:300]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
