"""Command line: `REFSERVICE_JWT_SECRET=... python -m refservice [options]`.

Prints one `READY host=... port=... listening_at=...` line on stdout once listening,
logs to stderr only, and shuts down gracefully (exit 0) on SIGTERM or SIGINT. The dialect's
transport picks the server: WebSocket (refservice.server), or HTTP + SSE for `ag-ui`
(refservice.agui, which alone imports uvicorn).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
import warnings
from typing import Literal, get_args

from jwt.warnings import InsecureKeyLengthWarning

from contract.dialect import Dialect, DialectError, load_dialect
from refservice import __version__, faults
from refservice.agui import faults as agui_faults
from refservice.agui.app import AguiConfig
from refservice.agui.plan import AGUI_SHAPES
from refservice.messages import SHAPES
from refservice.server import ServiceConfig, start_server

SECRET_ENV = "REFSERVICE_JWT_SECRET"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key should be at least 256 bits
SHUTDOWN_BOUND = 1.5  # seconds; the contract allows 2 s from the signal to the exit
LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)

logger = logging.getLogger("refservice")


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def parse_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of bytes: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def parse_delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"must be between 0 and 60 seconds: {text}")
    return value


def parse_path(text: str) -> str:
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(f"path must start with '/': {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refservice",
        description=f"Reference agent backend for the mission-critical gate. "
        f"The HS256 secret is read from ${SECRET_ENV} only.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=parse_port, default=8000, help="0 = a free port (8000)")
    parser.add_argument(
        "--dialect", default="reference", help="the contract's spelling: a shipped name or a file"
    )
    parser.add_argument(
        "--shape",
        choices=tuple(dict.fromkeys((*SHAPES, *AGUI_SHAPES))),
        default="flat",
        help="event field layout (websocket: flat, data; sse: flat, chunks)",
    )
    parser.add_argument(
        "--fault",
        choices=tuple(dict.fromkeys((*faults.FAULTS, *agui_faults.AGUI_FAULTS))),
        default=None,
        metavar="FAULT",
        help="break one rule (docs/refservice.md lists each transport's faults)",
    )
    parser.add_argument(
        "--max-size", type=parse_size, default=None, help="largest frame in bytes (the dialect's)"
    )
    parser.add_argument(
        "--delay", type=parse_delay, default=0.02, help="seconds between agent steps"
    )
    parser.add_argument("--ws-path", type=parse_path, default=None, help="(the dialect's)")
    parser.add_argument("--health-path", type=parse_path, default=None, help="(the dialect's)")
    parser.add_argument("--run-path", type=parse_path, default=None, help="sse: (the dialect's)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    parser.add_argument("--version", action="version", version=f"refservice {__version__}")
    return parser


def configure_logging(level: LogLevel) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # websockets logs request lines and headers at DEBUG: they hold tokens. Never below INFO.
    logging.getLogger("websockets").setLevel(max(logging.INFO, root.level))


async def run_service(config: ServiceConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await start_server(config)
    listening_at = time.time()
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"READY host={config.host} port={port} listening_at={listening_at:.6f}\n")
    sys.stdout.flush()
    logger.info(
        "refservice %s listening on %s:%d%s (dialect=%s, shape=%s, fault=%s)",
        __version__,
        config.host,
        port,
        config.ws_path or config.dialect.websocket_path,
        config.dialect.name,
        config.shape,
        config.fault or "none",
    )
    await stop.wait()
    logger.info("shutting down: closing %d connection(s)", len(server.connections))
    server.close()
    try:
        async with asyncio.timeout(SHUTDOWN_BOUND):
            await server.wait_closed()
    except TimeoutError:
        logger.warning("connections still open after %.1f s; exiting anyway", SHUTDOWN_BOUND)
    return 0


def transport_problem(args: argparse.Namespace, dialect: Dialect) -> str | None:
    """Why the options do not go with the dialect's transport, or None."""
    if dialect.transport == "sse":
        if args.fault is not None and args.fault not in agui_faults.AGUI_FAULTS:
            return f"--fault {args.fault}: not a fault of the sse transport (docs/refservice.md)"
        if args.shape not in AGUI_SHAPES:
            return f"--shape {args.shape}: the sse transport sends {' or '.join(AGUI_SHAPES)}"
        if args.shape == "chunks" and args.fault in agui_faults.STREAM_FAULTS:
            return f"--fault {args.fault} breaks the flat shape's events: use --shape flat"
        given = [flag for flag in ("ws_path", "max_size") if getattr(args, flag) is not None]
        if given:
            return f"--{given[0].replace('_', '-')}: the sse transport has no WebSocket"
        return None
    if args.fault is not None and args.fault not in faults.FAULTS:
        return f"--fault {args.fault}: not a fault of the websocket transport (docs/refservice.md)"
    if args.run_path is not None:
        return "--run-path: the websocket transport has no run path (see --ws-path)"
    if args.shape not in SHAPES or (
        args.shape != "flat" and args.shape not in dialect.event_containers
    ):
        where = ", ".join(dialect.event_containers) or "the top level only"
        return f"--shape {args.shape}: the {dialect.name} dialect reads event fields at {where}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"refservice: error: {SECRET_ENV} is not set (the HS256 secret)", file=sys.stderr)
        return 2
    try:
        dialect = load_dialect(args.dialect)
    except DialectError as exc:
        print(f"refservice: error: --dialect: {exc}", file=sys.stderr)
        return 2
    problem = transport_problem(args, dialect)
    if problem is not None:
        print(f"refservice: error: {problem}", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    if len(secret.encode()) < MIN_SECRET_BYTES:
        logger.warning("%s is shorter than %d bytes (weak for HS256)", SECRET_ENV, MIN_SECRET_BYTES)
    # Said once above, in one line; pyjwt would repeat it as a multi-line warning.
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    try:
        if dialect.transport == "sse":
            from refservice.agui.serve import serve_agui  # noqa: PLC0415 - uvicorn: ag-ui only

            health = dialect.health_path if args.health_path is None else args.health_path
            agui = AguiConfig(
                secret=secret,
                dialect=dialect,
                run_path=args.run_path or dialect.run_path,
                health_path=health,
                fault=args.fault,
                shape=args.shape,
                delay=args.delay,
            )
            return serve_agui(agui, args.host, args.port)
        config = ServiceConfig(
            secret=secret,
            host=args.host,
            port=args.port,
            shape=args.shape,
            fault=args.fault,
            max_size=args.max_size,
            delay=args.delay,
            ws_path=args.ws_path,
            health_path=args.health_path,
            dialect=dialect,
        )
        return asyncio.run(run_service(config))
    except OSError as exc:
        print(
            f"refservice: error: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
