"""The team backend's dependency, for its compose stack: a tiny store with a healthcheck.

It keeps a counter of its starts in its named volume (/data) and answers ``GET /ready`` with
it, so the backend has something real to wait for (``depends_on: condition: service_healthy``)
and the stack a volume the teardown must remove.
"""

from __future__ import annotations

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path("/data/starts")


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"ready; starts={DATA.read_text().strip()}\n".encode()
        self.send_response(200 if self.path == "/ready" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return  # quiet: the healthcheck asks every second


def main() -> None:
    starts = int(DATA.read_text()) if DATA.exists() else 0
    DATA.write_text(f"{starts + 1}\n")
    print(f"store: start {starts + 1}, listening on :9000", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 ignores it otherwise
    ThreadingHTTPServer(("0.0.0.0", 9000), Ready).serve_forever()  # noqa: S104 - in its container


if __name__ == "__main__":
    main()
