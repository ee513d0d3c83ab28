"""Serving the `ag-ui` app with uvicorn: on a socket bound here (port 0 = a free one), after
one READY line, until SIGTERM or SIGINT, then a graceful stop.

uvicorn catches the signals itself while it serves and shuts down: it stops accepting, tells the
app (which ends the streams a fault holds open), lets streams in flight finish for up to
SHUTDOWN_GRACE seconds, then cancels them. The handler installed here before READY covers the
moments around that: a signal before uvicorn serves makes it stop as soon as it starts, and the
signal uvicorn raises again once it is done is taken, so the service exits 0 as the WebSocket
one does. uvicorn is
imported here only: the WebSocket dialects never load it. Its access log is off and its loggers
never go below INFO.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

from refservice.agui.app import AguiApp
from refservice.agui.auth import BearerAuth

if TYPE_CHECKING:
    from types import FrameType

    from refservice.agui.app import AguiConfig

logger = logging.getLogger("refservice")
SHUTDOWN_GRACE = 1  # seconds streams in flight may take after a signal (the bound is 2 s)
LISTEN_BACKLOG = 2048  # room for a burst of 1,000+ simultaneous connects


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)


def serve_agui(config: AguiConfig, host: str, port: int) -> int:
    """Listen, say READY, serve until a signal; 0 once stopped. OSError if it cannot listen."""
    import uvicorn  # noqa: PLC0415 - only the ag-ui dialect needs an HTTP server

    sock = listen(host, port)
    listening_at = time.time()
    service = AguiApp(config)
    app = BearerAuth(
        service,
        secret=config.secret,
        dialect=config.dialect,
        fault=config.fault,
        path=config.run_path,
    )

    class Server(uvicorn.Server):
        """uvicorn's, telling the app when a signal stops it."""

        loop: asyncio.AbstractEventLoop | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            if self.loop is not None:
                self.loop.call_soon_threadsafe(service.stopping.set)

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().serve(sockets)

    server = Server(
        uvicorn.Config(
            app,
            lifespan="off",
            http="h11",
            ws="none",
            loop="asyncio",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
    )
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if server.started:  # uvicorn raising it again for this handler, after its shutdown
            logger.info("stopped by signal %d", signum)
        else:  # before uvicorn serves: it stops as soon as it has started
            server.handle_exit(signum, frame)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    bound = sock.getsockname()[1]
    sys.stdout.write(f"READY host={host} port={bound} listening_at={listening_at:.6f}\n")
    sys.stdout.flush()
    logger.info(
        "refservice listening on %s:%d%s (dialect=%s, shape=%s, fault=%s)",
        host,
        bound,
        config.run_path,
        config.dialect.name,
        config.shape,
        config.fault or "none",
    )
    asyncio.run(server.serve(sockets=[sock]))
    return 0
