"""A TLS terminator for the staging tests: TLS on a listening socket, plain bytes to a backend.

    python tests/integration/tls_proxy.py --fd N --upstream-port P --cert-chain FILE

serves TLS (certificate chain and key in one PEM file, e.g. from ``trustme``) on the already
listening socket ``N`` it inherited, and forwards each connection's bytes both ways to
127.0.0.1:P. Because the parent binds and listens before starting it, a client can connect the
moment the parent has the port: no readiness line, no race. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import ssl

CHUNK = 65536
LINGER = 5.0  # seconds at most to keep reading a client after the backend closed (see forward)
QUIET = 0.25  # a client that sent nothing for this long is done sending


async def forward(
    upstream_port: int, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
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


async def serve(listener: socket.socket, upstream_port: int, cert_chain: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_chain)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await forward(upstream_port, reader, writer)

    server = await asyncio.start_server(handle, sock=listener, ssl=context)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--cert-chain", required=True, help="PEM: key and certificate chain")
    args = parser.parse_args()
    listener = socket.socket(fileno=args.fd)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(listener, args.upstream_port, args.cert_chain))


if __name__ == "__main__":
    main()
