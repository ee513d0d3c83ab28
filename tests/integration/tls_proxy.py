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


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or an error, then close the far side (TLS cannot half-close)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def forward(
    upstream_port: int, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, upstream_writer),
        pipe(upstream_reader, client_writer),
        return_exceptions=True,
    )


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
