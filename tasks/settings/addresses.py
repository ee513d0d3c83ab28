"""Hosts in URLs: an IPv6 address is bracketed wherever the harness builds a URL.

``ws://::1:8000/ws`` is not a URL; ``ws://[::1]:8000/ws`` is. Every URL the harness builds from
a host and a port goes through ``host_port``, so no environment gets this wrong on its own.
"""

from __future__ import annotations

import ipaddress


def url_host(host: str) -> str:
    """``host`` as the host part of a URL: an IPv6 address in brackets, anything else as is."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else host


def host_port(host: str, port: int) -> str:
    """``host:port`` for a URL's authority (``[::1]:8000`` for an IPv6 host)."""
    return f"{url_host(host)}:{port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
