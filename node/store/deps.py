"""Choosing seq, prev, lamport and deps for a local op."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.crdt.op import MAX_DEPS, OpError

if TYPE_CHECKING:
    from .store import Store


def choose_fields(
    store: Store, community: bytes, author: bytes, explicit: list[bytes]
) -> tuple[int, bytes | None, int, list[bytes]]:
    """(seq, prev, lamport, deps): the caller's explicit deps first, then the newest heads of
    other authors that the author's own chain does not already name (so a quiet community does
    not get the same 16 deps on every op), up to the deps bound."""
    replica = store.replica
    heads = replica.heads.get(community)
    if heads is None:
        raise OpError("unknown_community", community.hex()[:16])
    metas = replica.metas
    chosen = list(dict.fromkeys(explicit))
    if len(chosen) > MAX_DEPS:
        raise OpError("bad_deps", f"more than {MAX_DEPS} explicit deps")
    covered = store.own_clock(community, author)
    for d in chosen:
        m = metas.get(d)
        if m is None or m.community != community:
            raise OpError("bad_deps", f"dep {d.hex()[:16]} is not a known op of the community")
        if covered.get(m.author, 0) < m.seq:
            covered[m.author] = m.seq
    fresh = sorted(
        (h for a, h in heads.items() if a != author and covered.get(a, 0) < h.seq),
        key=lambda h: (h.lamport, h.id),
        reverse=True,
    )
    for h in fresh[: max(0, MAX_DEPS - len(chosen))]:
        chosen.append(h.id)
    own = heads.get(author)
    prev = own.id if own is not None else None
    chosen = [d for d in chosen if d != prev]
    parents = [prev, *chosen] if prev is not None else chosen
    lamport = max((metas[p].lamport for p in parents), default=0) + 1
    return (own.seq + 1 if own is not None else 1), prev, lamport, sorted(chosen)
