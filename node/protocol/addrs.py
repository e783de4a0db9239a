"""Which multiaddrs are worth announcing or dialling. Pure string checks, no I/O.

A wildcard (``/ip4/0.0.0.0``, ``/ip6/::``) is where a node *listens*, never where anyone can
reach it: announcing it makes every peer dial its own machine (issue 14: twelve dials of
0.0.0.0). The host announces the concrete interface addresses instead (``host.py``), and the
peer book and :meth:`Host.connect` refuse wildcards from anyone else.
"""

from __future__ import annotations

import ipaddress

UNSPECIFIED = {"0.0.0.0", "::"}


def ip_of(addr: str) -> str | None:
    """The IP of ``/ip4/<ip>/...`` or ``/ip6/<ip>/...``, else None (dns, relay-only...)."""
    parts = addr.split("/")
    if len(parts) > 2 and parts[1] in ("ip4", "ip6"):
        return parts[2]
    return None


def is_wildcard(addr: str) -> bool:
    ip = ip_of(addr)
    if ip is None:
        return False
    try:
        return ipaddress.ip_address(ip).is_unspecified
    except ValueError:
        return True  # not even an IP: nothing to dial either


def dialable(addr: str) -> bool:
    """True for an address someone else could dial: it names a transport, and its IP (when
    it has one) is not a wildcard. ``/p2p-circuit`` addresses are dialable through their
    relay, whose own address is what is checked."""
    if not addr.startswith("/") or "/tcp/" not in addr and "/p2p-circuit" not in addr:
        return False
    return not is_wildcard(addr)
