"""A TLS terminator for the staging tests: TLS on a listening socket, plain bytes to a backend.

    python tests/integration/tls_proxy.py --fd N --upstream-port P --cert-chain FILE
    python tests/integration/tls_proxy.py --port Q --listen-after S --unavailable-for M \
        --rate-limit K [--handshakes-from N] --retry-after R --upstream-port P --cert-chain FILE

serves TLS (certificate chain and key in one PEM file, e.g. from ``trustme``) on the already
listening socket ``N`` it inherited, and forwards each connection's bytes both ways to
127.0.0.1:P. Because the parent binds and listens before starting it, a client can connect the
moment the parent has the port: no readiness line, no race. SIGTERM or SIGINT stops it.

The second form is a deployment waking from sleep, as Render's or Cloud Run's edge shows one:
nothing listens on port Q for S seconds (connection refused); then, for M seconds, every request
is answered ``503 Service Unavailable``; then K requests (the first K, or with
``--handshakes-from N`` the WebSocket handshakes from the N-th on: a rate limit hitting a burst)
get ``429 Too Many Requests`` with ``Retry-After: R``; the others are forwarded. When it starts
listening it prints ``SERVES_FROM <time.time() + M>`` to stderr: the moment it can serve (with
no 429s), for the bench.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass

CHUNK = 65536
LINGER = 5.0  # seconds at most to keep reading a client after the backend closed (see forward)
QUIET = 0.05  # a client that sent nothing for this long is done sending


async def forward(
    upstream_port: int,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    head: bytes = b"",
) -> None:
    """Copy bytes both ways. When the backend closes first, the client is read (and what it
    sends dropped) until it closes too or stops sending (QUIET), for at most LINGER, before its
    connection is closed:
    closing on a client that is still sending (a frame the backend refused) would reset the
    connection and could discard the backend's last frames, a close frame among them, before
    the client reads them. Real terminators linger the same way (nginx's lingering_close)."""
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    if head:  # what the edge read to decide, passed on first
        upstream_writer.write(head)
    upstream_gone, client_gone = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    last_read = [loop.time()]

    async def from_client() -> None:
        try:
            while data := await client_reader.read(CHUNK):
                last_read[0] = loop.time()
                if upstream_gone.is_set():
                    continue  # lingering: read and drop
                try:
                    upstream_writer.write(data)
                    await upstream_writer.drain()
                except ConnectionError:
                    upstream_gone.set()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            client_gone.set()
            upstream_writer.close()

    async def to_client() -> None:
        try:
            while data := await upstream_reader.read(CHUNK):
                client_writer.write(data)
                await client_writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            upstream_gone.set()
            await linger()
            client_writer.close()  # TLS cannot half-close

    async def linger() -> None:
        """Until the client closed, or sent nothing for QUIET, or LINGER passed."""
        deadline = loop.time() + LINGER
        while not client_gone.is_set() and (now := loop.time()) < deadline:
            quiet = now - last_read[0]
            if quiet >= QUIET:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(QUIET - quiet, deadline - now)):
                    await client_gone.wait()

    await asyncio.gather(from_client(), to_client(), return_exceptions=True)


@dataclass
class Edge:
    """What the front answers before it forwards: 503 until `serving_at`, then K x 429: to the
    first K requests, or (`handshakes_from` N) to K WebSocket handshakes from the N-th on, as a
    rate limit hits a load's burst."""

    serving_at: float = 0.0  # loop time; 0: forward from the start
    rate_limited: int = 0
    retry_after: float = 0.0
    handshakes_from: int = 0  # 0: any request
    handshakes: int = 0

    def refusal(self, now: float, head: bytes) -> bytes | None:
        if now < self.serving_at:
            return _answer(503, "Service Unavailable", "waking up")
        if self.handshakes_from:
            if b"upgrade: websocket" not in head.lower():
                return None
            self.handshakes += 1
            if self.handshakes < self.handshakes_from:
                return None
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return _answer(429, "Too Many Requests", "slow down", self.retry_after)
        return None


def _answer(status: int, phrase: str, body: str, retry_after: float | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} {phrase}", "Content-Type: text/plain", "Connection: close"]
    head += [f"Content-Length: {len(body)}"]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after:g}")
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """The request's head (bounded); b"" when none came in time."""
    with contextlib.suppress(
        ConnectionError, ssl.SSLError, TimeoutError, asyncio.LimitOverrunError
    ):
        async with asyncio.timeout(LINGER):
            return await reader.readuntil(b"\r\n\r\n")
    return b""


async def refuse(answer: bytes, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        writer.write(answer)
        await writer.drain()
    writer.close()


async def serve(
    listener: socket.socket, upstream_port: int, cert_chain: str, edge: Edge | None = None
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_chain)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if edge is None:
            await forward(upstream_port, reader, writer)
            return
        head = await read_head(reader)
        answer = edge.refusal(loop.time(), head)
        if answer is not None:
            await refuse(answer, writer)
        else:
            await forward(upstream_port, reader, writer, head)

    server = await asyncio.start_server(handle, sock=listener, ssl=context)
    async with server:
        await stop.wait()


async def wake_then_serve(args: argparse.Namespace) -> None:
    """The second form: nothing listens for --listen-after, then the edge, then the backend."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.listen_after):
            await stop.wait()
    if stop.is_set():
        return
    listener = socket.create_server(("127.0.0.1", args.port))
    edge = Edge(
        loop.time() + args.unavailable_for, args.rate_limit, args.retry_after, args.handshakes_from
    )
    print(f"SERVES_FROM {time.time() + args.unavailable_for:.6f}", file=sys.stderr, flush=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    await serve(listener, args.upstream_port, args.cert_chain, edge)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="inherited listening socket")
    where.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT after --listen-after")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--cert-chain", required=True, help="PEM: key and certificate chain")
    parser.add_argument("--listen-after", type=float, default=0.0, help="seconds not listening")
    parser.add_argument("--unavailable-for", type=float, default=0.0, help="seconds of 503")
    parser.add_argument("--rate-limit", type=int, default=0, help="requests answered 429")
    parser.add_argument(
        "--handshakes-from", type=int, default=0, help="429 only handshakes, from the Nth on"
    )
    parser.add_argument("--retry-after", type=float, default=1.0, help="the 429s' Retry-After")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.fd is not None:
            asyncio.run(serve(socket.socket(fileno=args.fd), args.upstream_port, args.cert_chain))
        else:
            asyncio.run(wake_then_serve(args))


if __name__ == "__main__":
    main()
