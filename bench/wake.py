"""Benchmark: how late the gate notices that a sleeping deployment can serve again.

A front on loopback (tests/integration/tls_proxy.py, the deployment of the wake tests) answers
every request with 503 for U seconds, then forwards to the reference backend behind it; when it
starts listening it prints the moment it will serve (``SERVES_FROM``). U differs from rep to rep,
so the moment does not line up with either side's schedule.

* harness: ``tasks.environments.wake.wake`` with the staging probes, as ``serve_staging`` runs
  it (capped backoff, 50 ms doubling to 0.25 s); the moment it returns minus ``SERVES_FROM``.
* anchor: curl's ``--retry`` schedule (a first wait of 1 s, doubling), what CI scripts use to
  wait for a deployment: the moment of its first successful health GET minus ``SERVES_FROM``,
  against a fresh front with the same U, in the same rep.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from bench.figures import Metric, Sample, at_most
from bench.procs import ROOT, TMP, log, run_backend
from tasks.environments.staging import attempt_probes, plan_probes
from tasks.environments.wake import wake
from tasks.settings import load_settings

PROXY = ROOT / "tests" / "integration" / "tls_proxy.py"
SECRET = "mc-bench-wake-secret-0123456789abcdef0123456789"
REPS, QUICK_REPS = 8, 3
BOUND = 30.0  # seconds: the wake bound of both sides
GOAL = at_most(0.5, "s")
ANCHOR = "curl --retry's schedule (1 s, doubling) on the health URL, the same front and U"


def _certificates(workdir: Path) -> tuple[Path, Path]:
    import trustme  # noqa: PLC0415 - a test dependency, only for this benchmark

    ca = trustme.CA()
    ca_file, chain = workdir / "wake-ca.pem", workdir / "wake-chain.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(chain))
    return ca_file, chain


class Front:
    """One waking front: 503 for ``unavailable`` seconds, then the backend; stopped on exit."""

    def __init__(self, backend_port: int, chain: Path, unavailable: float) -> None:
        import socket  # noqa: PLC0415

        with socket.create_server(("127.0.0.1", 0)) as probe:
            self.port: int = probe.getsockname()[1]
        command = [sys.executable, str(PROXY), "--port", str(self.port)]
        command += ["--upstream-port", str(backend_port), "--cert-chain", str(chain)]
        command += ["--unavailable-for", f"{unavailable:g}"]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE)
        self._serves_from: float | None = None

    def serves_from(self, timeout: float = 10.0) -> float:
        """The moment it said, on listening, that it will serve (its first line; bounded)."""
        if self._serves_from is None:
            import selectors  # noqa: PLC0415

            assert self.process.stderr is not None
            with selectors.DefaultSelector() as selector:
                selector.register(self.process.stderr, selectors.EVENT_READ)
                if not selector.select(timeout):
                    raise RuntimeError(f"the front said nothing within {timeout:g}s")
            line = self.process.stderr.readline().decode(errors="replace")
            if not line.startswith("SERVES_FROM "):
                raise RuntimeError(f"the front said {line.strip()[:200]!r}, not SERVES_FROM")
            self._serves_from = float(line.split()[1])
        return self._serves_from

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.process.stderr is not None
        self.process.stderr.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def harness_lag(front: Front, ca_file: Path) -> float:
    environ = {
        **os.environ,
        "MC_REPORT_DIR": str(TMP / "reports"),
        "STAGING_WEBSOCKET_URL": f"wss://127.0.0.1:{front.port}/ws",
        "STAGING_JWT_SECRET": SECRET,
        "STAGING_CA_BUNDLE": str(ca_file),
    }
    plan = plan_probes(load_settings(ROOT, environ))
    woken = wake(plan, BOUND, attempt_probes, lambda _line: None)
    noticed = time.time()
    if any(r.outcome != "pass" for r in woken.results):
        raise RuntimeError(f"the probes failed after the wake: {woken.results}")
    return noticed - front.serves_from()


def anchor_lag(front: Front, ca_file: Path) -> float:
    context = ssl.create_default_context(cafile=str(ca_file))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    url = f"https://127.0.0.1:{front.port}/health"
    deadline, pause = time.monotonic() + BOUND, 1.0
    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return time.time() - front.serves_from()
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(pause)
        pause *= 2
    raise RuntimeError(f"the anchor never saw {url} serve within {BOUND:g}s")


def measure(quick: bool) -> list[Metric]:
    reps = QUICK_REPS if quick else REPS
    workdir = TMP / "wake"
    workdir.mkdir(parents=True, exist_ok=True)
    ca_file, chain = _certificates(workdir)
    harness, anchor = [], []
    log(f"wake: {reps} sleeping deployment(s) woken by the harness and by the anchor")
    with run_backend(sys.executable, SECRET, delay=0.0, stderr=workdir / "backend.log") as back:
        port = int(back.http_url.rsplit(":", 1)[1])
        for rep in range(reps):
            unavailable = 1.0 + (rep * 0.37) % 1.0  # between 1 and 2 s, a different phase each
            with Front(port, chain, unavailable) as front:
                harness.append(harness_lag(front, ca_file))
            with Front(port, chain, unavailable) as front:
                anchor.append(anchor_lag(front, ca_file))
    return [
        Metric(
            "wake.notice_lag",
            "s",
            Sample.of(harness),
            ANCHOR,
            Sample.of(anchor),
            GOAL,
            "from the moment a deployment answering 503 can serve to the moment the wake phase "
            "returns with every probe passed (health, WebSocket handshake + greeting, ping, "
            "over TLS): tasks.environments.wake, capped backoff 0.25 s",
            digits=3,
        )
    ]
