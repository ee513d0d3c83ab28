"""A stand-in for a Docker engine we cannot run here: its version endpoint and its API gate.

Docker Engine 29 accepts API versions 1.44 and newer only; a client speaking an older one gets
``400 client version 1.38 is too old. Minimum supported API version is 1.44, ...``. This server
answers on a unix socket the way such an engine does for the few requests compose detection
makes: ``/version`` (unversioned or versioned) with ``MinAPIVersion``, the version gate on every
versioned path, an empty container list, and 404 for anything else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def _api(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    facts: dict[str, str]
    paths: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Quiet: the test reads ``paths``, not a log."""

    def address_string(self) -> str:
        return "unix"

    def _answer(self, status: int, body: object) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        # on every answer, as dockerd's version middleware does: clients negotiate from it
        self.send_header("Api-Version", self.server.facts["ApiVersion"])
        self.send_header("Ostype", "linux")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:
        facts = self.server.facts
        path = self.path.split("?", 1)[0]
        self.server.paths.append(self.path)
        if found := VERSIONED.match(path):
            asked = f"{found[1]}.{found[2]}"
            if _api(asked) < _api(facts["MinAPIVersion"]):
                message = (
                    f"client version {asked} is too old. Minimum supported API version is "
                    f"{facts['MinAPIVersion']}, please upgrade your client to a newer version"
                )
                self._answer(400, {"message": message})
                return
            if _api(asked) > _api(facts["ApiVersion"]):
                message = (
                    f"client version {asked} is too new. Maximum supported API version is "
                    f"{facts['ApiVersion']}"
                )
                self._answer(400, {"message": message})
                return
            path = found[3]
        if path == "/version":
            self._answer(200, facts)
        elif path == "/_ping":
            self._answer(200, b"OK")
        elif path == "/containers/json":
            self._answer(200, [])
        else:
            self._answer(404, {"message": f"page not found: {path}"})

    def do_POST(self) -> None:
        self.do_GET()

    def do_HEAD(self) -> None:
        self.do_GET()


@contextmanager
def fake_engine(
    *, version: str = "29.0.0", min_api: str = "1.44", max_api: str = "1.52"
) -> Iterator[tuple[str, list[str]]]:
    """(DOCKER_HOST url, the paths asked so far) for an engine that answers like ``version``."""
    folder = tempfile.mkdtemp(prefix="mcg-engine-")  # short: unix socket paths are limited
    path = os.path.join(folder, "docker.sock")  # noqa: PTH118
    server = _Server(path, _Handler)
    server.facts = {
        "Version": version,
        "ApiVersion": max_api,
        "MinAPIVersion": min_api,
        "Os": "linux",
        "Arch": "amd64",
    }
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"unix://{path}", server.paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
