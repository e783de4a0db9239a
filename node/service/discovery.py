"""Finding peers: configured and remembered addresses (redialled with backoff), addresses
members announce in their profiles, and mDNS on the LAN. Tasks run in the service's nursery."""

from __future__ import annotations

import logging
from typing import Any

import trio

log = logging.getLogger("we.discovery")


PRUNE_EVERY = 10.0


async def dialer(svc: Any) -> None:
    pruned = trio.current_time()
    while True:
        now = trio.current_time()
        connected = set(svc.host.connected_peers())
        if now - pruned >= PRUNE_EVERY:
            svc.book.prune(now, connected)
            pruned = now
        for d in svc.book.due(now, connected):
            d.next_try = now + 3600  # in flight; _dial sets the real next time
            svc.nursery.start_soon(dial, svc, d)
        await trio.sleep(0.5)


async def dial(svc: Any, d: Any) -> None:
    try:
        await svc.host.connect(d.addr, timeout=10)
        svc.book.dial_ok(d)
    except Exception:  # unreachable: back off
        svc.book.dial_failed(d, trio.current_time())


async def address_scan(svc: Any) -> None:
    """Addresses members announce in their profiles become dial targets."""
    from node.crdt.records import queries

    while True:
        for c in sorted(svc.followed):
            try:
                for m in queries.members(svc.store.state, c):
                    for addr in ((m.get("profile") or {}).get("addrs") or [])[:8]:
                        if isinstance(addr, str):
                            svc.book.add_addr(addr)
            except Exception as exc:
                log.debug("address scan: %r", exc)
        await trio.sleep(5)


async def mdns_scan(svc: Any) -> None:
    """py-libp2p's mDNS only fills the peerstore; turn what it found into dial targets."""
    store = svc.host.host.get_peerstore()
    while True:
        try:
            for pid in store.peers_with_addrs():
                peer = str(pid)
                if peer == svc.member_id:
                    continue
                for addr in store.addrs(pid)[:4]:
                    text = str(addr)
                    if "/tcp/" in text and "/p2p/" not in text:
                        svc.book.add_addr(f"{text}/p2p/{peer}")
        except Exception as exc:
            log.debug("mdns scan: %r", exc)
        await trio.sleep(1)
