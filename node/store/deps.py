"""Choosing seq, prev, lamport and deps for a local op."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.crdt.op import ID_SIZE, MAX_DEPS, Op, OpError

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
    covered = store.own_clocks.clock(community, author)
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


def split_parents(blob: bytes) -> tuple[bytes, ...]:
    return tuple(blob[i : i + ID_SIZE] for i in range(0, len(blob), ID_SIZE))


class OwnClocks:
    """Per local chain, a lower bound of the causal past of its head: for each other author,
    the highest seq that the chain's own ops name directly (prev/deps). Heads at or below it
    are already covered and need not be named again. Cached; rebuilt from the file if stale."""

    def __init__(self, store: Store):
        self._store = store
        self._cache: dict[tuple[bytes, bytes], tuple[bytes, dict[bytes, int]]] = {}

    def note(self, op: Op) -> None:
        """Keep the cached clock current after ``op`` (a local op) is stored."""
        key = (op.community_id, op.author)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == op.prev:
            clock = cached[1]
            for d in op.deps:
                m = self._store.replica.metas[d]
                if clock.get(m.author, 0) < m.seq:
                    clock[m.author] = m.seq
            self._cache[key] = (op.id, clock)

    def clock(self, community: bytes, author: bytes) -> dict[bytes, int]:
        """A lower bound of the causal past of ``author``'s head: for each other author, the
        highest seq that the head's chain names directly (prev/deps of its own ops). Heads at
        or below it are already covered and need not be named again."""
        head = self._store.replica.heads.get(community, {}).get(author)
        if head is None:
            return {}
        key = (community, author)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == head.id:
            return dict(cached[1])
        metas = self._store.replica.metas
        clock: dict[bytes, int] = {}
        rows = self._store._db.execute(
            "SELECT parents FROM ops WHERE chain = ?", (self._store.chains.get(community, author),)
        )
        for (blob,) in rows:
            for p in split_parents(blob):
                m = metas.get(p)
                if m is not None and m.author != author and clock.get(m.author, 0) < m.seq:
                    clock[m.author] = m.seq
        self._cache[key] = (head.id, clock)
        return dict(clock)
