"""The service's status and peer tables (what the control API's "status" and "peers" return)."""

from __future__ import annotations

from typing import Any


def status(svc: Any) -> dict:
    from node.crdt.records import queries

    connected = set(svc.connected())
    comms = []
    for c in sorted(svc.followed):
        hs = svc.store.heights(c)
        recs = svc.sync_records.get(c, {})
        synced = sorted(p for p, r in recs.items() if r.ok and p in connected)
        try:
            name = (queries.charter(svc.store.state, c) or {}).get("name")
        except Exception:
            name = None
        comms.append(
            {
                "id": c,
                "name": name,
                "ops": sum(seq for seq, _ in hs.values()),
                "authors": len(hs),
                "in_sync_with": len(synced),
                "peers_synced": synced,
                "last_sync_ms": max((int(r.at * 1000) for r in recs.values()), default=None),
                "fork_proofs": len(svc.store.fork_proofs(c)),
                # its state still shows ops that fork proofs or a removal voided: the rebuild
                # waits (a recent one ran long: ``store.REBUILD_PAUSE``)
                "rebuild_pending": c in svc.store.replica.stale,
                "receiving": _receiving(svc, c),
            }
        )
    from node.identity import member_id

    from .standing import retired

    member = svc.member_key()
    return {
        "member_id": svc.member_id,
        "public_key": svc.identity.public_key,
        # The member this node signs for: itself, or the member whose device it is.
        "member": member_id(member),
        "member_key": member,
        "device": member != svc.identity.public_key,
        "listen_addrs": svc.host.listen_addrs if svc.host else [],
        "network": svc.network,
        "reachability": svc.host.reach.status if svc.host else "unknown",
        "peers": sorted(connected),
        "communities": comms,
        "chain_guard": svc.guard.status() if svc.guard is not None else None,
        "own_forks": _own_forks(svc),
        # Communities where this node's key counts nowhere (revoked, replaced, removed): its
        # writes there are refused (``standing.py``), and `we status` says so loudly.
        "key_retired": retired(svc.store, svc.followed, svc.identity.public_key),
    }


def _receiving(svc: Any, community: bytes) -> dict | None:
    """The sync sessions receiving ops of ``community`` right now (a join, a node catching up
    after a long time away): ops received so far and of how many (None when a session has
    not said), as of their last ``sync_progress`` event. None when none is."""
    now = [(d, e) for c, d, e in svc.syncer.receiving.values() if c == community]
    if not now:
        return None
    expected = None if any(e is None for _, e in now) else sum(e for _, e in now)
    return {"done": sum(d for d, _ in now), "expected": expected, "sessions": len(now)}


def _own_forks(svc: Any) -> list[dict]:
    """Communities where this member's own key forked: every node voids its ops there from
    ``seq`` on. Said loudly by `we status` (an honest restore or a copy run twice does it)."""
    me = svc.identity.public_key
    return [
        {"community": c, "seq": forked.seq}
        for (c, author), forked in sorted(svc.store.replica.forks.items())
        if author == me
    ]


def peers(svc: Any) -> list[dict]:
    import trio

    connected = set(svc.connected())
    now = trio.current_time()
    out = []
    for p in sorted(svc.book.peers.values(), key=lambda p: p.member_id):
        addrs = [d.addr for d in svc.book.dials.values() if d.member_id == p.member_id]
        out.append(
            {
                "member_id": p.member_id,
                "connected": p.member_id in connected,
                "score": round(svc.book.score(p.member_id, now)),  # it decays toward 0
                "addrs": addrs,
                "rtt_ms": p.rtt_ms,
                "direct": bool(
                    svc.host and p.member_id in connected and svc.host.reach.direct(p.member_id)
                ),
                "last_seen_ms": None if p.last_seen is None else int(p.last_seen * 1000),
            }
        )
    return out
