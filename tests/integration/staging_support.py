"""What the staging tests share: a TLS front on loopback (tls_proxy.py, a throwaway trustme CA)
and the settings that aim the gate at it."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from tasks.settings import Settings, load_settings

PROXY = Path(__file__).with_name("tls_proxy.py")
SECRET = "mc-staging-secret-0123456789abcdef0123456789"
BOUND = 2.0  # STAGING_PROBE_TIMEOUT in these tests


@dataclass(frozen=True)
class Waking:
    """How a test deployment wakes: not listening, then 503s, then 429s, then serving."""

    listen_after: float = 0.0  # seconds
    unavailable_for: float = 0.0  # seconds of 503 once it listens
    rate_limit: int = 0  # requests answered 429 after that
    handshakes_from: int = 0  # 0: the first requests; N: WebSocket handshakes from the N-th on
    retry_after: float = 1.0  # the 429s' Retry-After, seconds


@dataclass
class TlsFront:
    """Starts TLS proxies (certificate for 127.0.0.1 from a trustme CA) and stops them all."""

    workdir: Path
    ca_file: Path
    chain_file: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, upstream_port: int) -> int:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port: int = listener.getsockname()[1]
            fd = listener.fileno()
            with self.log_of(port).open("wb") as log:
                command = [sys.executable, str(PROXY), "--fd", str(fd)]
                command += ["--upstream-port", str(upstream_port)]
                command += ["--cert-chain", str(self.chain_file)]
                process = subprocess.Popen(command, pass_fds=[fd], stderr=log)
        self.started.append(process)
        return port

    def start_waking(self, upstream_port: int, waking: Waking) -> int:
        """A front that wakes as ``waking`` says (tls_proxy.py's second form); its port. The
        port is free when chosen and nothing listens on it until ``listen_after`` has passed."""
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port: int = probe.getsockname()[1]
        command = [sys.executable, str(PROXY), "--port", str(port)]
        command += ["--upstream-port", str(upstream_port), "--cert-chain", str(self.chain_file)]
        command += ["--listen-after", f"{waking.listen_after:g}"]
        command += ["--unavailable-for", f"{waking.unavailable_for:g}"]
        command += ["--rate-limit", str(waking.rate_limit)]
        command += ["--handshakes-from", str(waking.handshakes_from)]
        command += ["--retry-after", f"{waking.retry_after:g}"]
        with self.log_of(port).open("wb") as log:
            self.started.append(subprocess.Popen(command, stderr=log))
        return port

    def log_of(self, port: int) -> Path:
        return self.workdir / f"proxy-{port}.log"

    def stop_all(self) -> None:
        for process in self.started:
            process.terminate()
            try:
                process.wait(3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(3)


def make_tls_front(workdir: Path) -> TlsFront:
    """A front whose certificate is for 127.0.0.1, from a new trustme CA (its PEM: ca.pem)."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(workdir / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(workdir / "chain.pem")
    )
    return TlsFront(workdir, workdir / "ca.pem", workdir / "chain.pem")


def staging(tmp_path: Path, port: int, ca: Path | None, **overrides: str | None) -> Settings:
    environ: dict[str, str | None] = {
        "STAGING_WEBSOCKET_URL": f"wss://127.0.0.1:{port}/ws",
        "STAGING_BACKEND_URL": f"https://127.0.0.1:{port}",
        "STAGING_JWT_SECRET": SECRET,
        "STAGING_CA_BUNDLE": str(ca) if ca else None,
        "STAGING_PROBE_TIMEOUT": f"{BOUND:g}",
        **overrides,
    }
    return load_settings(tmp_path, {k: v for k, v in environ.items() if v is not None})
