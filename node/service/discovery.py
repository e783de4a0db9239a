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
        svc.lift_bans(now)
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


REACH_FIRST, REACH_RETRY, REACH_EVERY = 2.0, 5.0, 300.0


async def reachability(svc: Any) -> None:
    """AutoNAT against connected peers; when the verdict is "private", hold a slot on a
    connected member that serves relays (its identify lists the HOP protocol) and announce the
    relayed address. A relay that went away is forgotten and another one is reserved."""
    reach = svc.host.reach
    await trio.sleep(REACH_FIRST)
    while True:
        pause = REACH_RETRY
        try:
            peers = [p for p in svc.connected() if reach.direct(p)]
            for addr in list(reach.relayed):
                relay = addr.split("/p2p-circuit", 1)[0].rsplit("/p2p/", 1)[1]
                if relay not in peers:
                    reach.forget_relay(relay)
            if peers:
                status = await reach.check(peers[:5])
                if status == "public":
                    pause = REACH_EVERY
                elif status == "private":
                    if reach.relayed or await _reserve_any(svc, peers):
                        pause = REACH_EVERY / 5
        except Exception as exc:
            log.debug("reachability: %r", exc)
        await _sleep_unless_relay_lost(svc, pause)


async def _sleep_unless_relay_lost(svc: Any, pause: float) -> None:
    """Sleep ``pause`` seconds, but wake within a second when a relay we hold a slot on goes
    away: our relayed address is dead then, and another relay (or the same one when it returns)
    must be reserved before peers can reach us again."""
    reach = svc.host.reach
    end = trio.current_time() + pause
    while trio.current_time() < end:
        await trio.sleep(min(1.0, end - trio.current_time()))
        connected = set(svc.connected())
        for addr in reach.relayed:
            if addr.split("/p2p-circuit", 1)[0].rsplit("/p2p/", 1)[1] not in connected:
                return


async def _reserve_any(svc: Any, peers: list[str]) -> bool:
    reach = svc.host.reach
    for peer in peers:
        if not reach.is_relay(peer):
            continue
        for addr in _addrs_of(svc, peer):
            try:
                with trio.fail_after(10):
                    if await reach.reserve(addr):
                        log.info("reachable through relay %s", peer)
                        return True
            except Exception as exc:
                log.debug("reservation on %s failed: %r", addr, exc)
    return False


def _addrs_of(svc: Any, peer: str) -> list[str]:
    """Dialable addresses of ``peer``: from the peer book, then what identify told us."""
    from libp2p.peer.id import ID

    from node.protocol.addrs import dialable

    out = [
        d.addr
        for d in svc.book.dials.values()
        if d.member_id == peer and "/p2p-circuit" not in d.addr
    ]
    try:
        for a in svc.host.host.get_peerstore().addrs(ID.from_base58(peer)):
            text = str(a)
            if "/p2p-circuit" in text or not dialable(text):
                continue
            out.append(text if "/p2p/" in text else f"{text}/p2p/{peer}")
    except Exception:
        pass
    return list(dict.fromkeys(out))


FIND_EVERY, REGISTER_EVERY = 5.0, 3600.0


async def community_rendezvous(svc: Any) -> None:
    """Found by community id (specs/network.md): at every connected peer that serves
    rendezvous, register under each followed community's namespace (renewed hourly), and, while
    a community has fewer than 3 connected members, ask for its members' addresses and dial
    them. A newcomer that knows only a bootstrap peer and the community id finds the members."""
    from node.protocol.addrs import dialable

    reach = svc.host.reach
    registered: dict[tuple[str, bytes], float] = {}
    await trio.sleep(1.0)
    while True:
        now = trio.current_time()
        servers = [p for p in svc.connected() if reach.serves_rendezvous(p)][:3]
        for c in sorted(svc.followed):
            for s in servers:
                if now - registered.get((s, c), -REGISTER_EVERY) >= REGISTER_EVERY:
                    try:
                        with trio.fail_after(10):
                            await reach.register(s, c)
                        registered[(s, c)] = now
                    except Exception as exc:
                        log.debug("rendezvous register at %s: %r", s, exc)
            if _connected_members(svc, c) >= 3:
                continue
            for s in servers:
                try:
                    with trio.fail_after(10):
                        found = await reach.discover(s, c)
                except Exception as exc:
                    log.debug("rendezvous discover at %s: %r", s, exc)
                    continue
                for addr in found:
                    if dialable(addr):
                        svc.book.add_addr(addr)
        if len(registered) > 4096:
            registered.clear()
        await trio.sleep(FIND_EVERY)


def _connected_members(svc: Any, community: bytes) -> int:
    from node.crdt.records import queries
    from node.identity import member_id

    connected = set(svc.connected())
    try:
        return sum(
            member_id(m["member"]) in connected
            for m in queries.members(svc.store.state, community)
            if m["status"] == "member"
        )
    except Exception:
        return 0
