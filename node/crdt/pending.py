"""The pending area: ops that wait for a missing ``prev`` or dep.

Any key can send ops whose parents never come, so the area is bounded in bytes and split so that
ops of keys a community does not know (strangers, random keys) can never push out or stall the
ops of its known authors. Normative text: ``specs/ops.md`` §9. The rules, in the order applied:

- An op costs ``len(op.raw) + OP_OVERHEAD + WAIT_OVERHEAD * (ids it waits for)`` bytes: the
  overhead stands for the index entries kept beside it, so that many tiny ops are bounded too. Only the encoding is held, not the decoded op:
  a 64 KiB op decodes to several times its size.
- The caller says whether the op's author is *known* (has logged ops in the op's community) or a
  *stranger*; the class is fixed when the op is parked.
- Three bounds: each author holds at most ``author_bytes`` (both classes together); strangers
  together hold at most ``stranger_share * limit_bytes``; everything at most ``limit_bytes``.
- ``park`` adds the op, then restores the bounds in that order by evicting:
  1. author quota: the author's own ops, its stranger ops first, then highest (lamport, id)
     first (an author's lowest ops are the ones closest to applicable);
  2. stranger share (only when a stranger op is parked): from the stranger holding the most
     stranger bytes (ties: the lowest author id), its highest (lamport, id) stranger op;
  3. total: the same rule within the strangers while any stranger op is held, else within the
     known authors (the known author holding the most known bytes, its highest op).
  If a rule picks the new op itself, nothing changes and the op is refused (``kept`` False):
  a newcomer never evicts an op that ranks before it, and a stranger op never evicts a known one.
- The outcome depends only on the sequence of calls (no hash order, no clock).

Evicted and refused ops are fetched again by sync once their past has arrived (``missing`` names
the ids the held ops wait for, known authors' needs first).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .op import Op, decode_op

# Bytes charged per held op on top of its encoding, for the index entries kept beside it (dict
# slots, eviction key, and per id it waits for: that id, its waiting set). Measured in CPython
# 3.11: ~560 bytes for an op waiting for 1 id, ~4,700 for one waiting for 16.
OP_OVERHEAD = 512
WAIT_OVERHEAD = 320

_KNOWN, _STRANGER = 0, 1  # also the first item of the eviction key: strangers sort last (go first)


@dataclass(slots=True)
class _Held:
    raw: bytes
    author: bytes
    community: bytes
    lamport: int
    waits_for: tuple[bytes, ...]  # the ids that were missing when parked
    cls: int
    cost: int

    def key(self, op_id: bytes) -> tuple[int, int, bytes]:
        return (self.cls, self.lamport, op_id)


class _Refused(Exception):
    pass


class PendingArea:
    def __init__(
        self,
        limit_bytes: int = 64 * 2**20,
        *,
        author_bytes: int = 4 * 2**20,
        stranger_share: float = 0.25,
    ):
        if not 0 <= stranger_share <= 1:
            raise ValueError("stranger_share is a fraction of limit_bytes: give 0..1")
        self.limit_bytes = limit_bytes
        self.author_bytes = author_bytes
        self.stranger_bytes = int(limit_bytes * stranger_share)
        self._held: dict[bytes, _Held] = {}
        self._waiting: dict[bytes, set[bytes]] = {}  # missing parent id -> waiting op ids
        self._bytes = 0
        # author -> its held ops' eviction keys (cls, lamport, id), ascending: the last goes first
        self._by_author: dict[bytes, list[tuple[int, int, bytes]]] = {}
        self._author_total: dict[bytes, int] = {}
        self._class_bytes = [0, 0]
        self._class_author: list[dict[bytes, int]] = [{}, {}]  # per class: author -> bytes
        # per class: max-heap (-bytes, author) of the authors' class bytes; stale entries (bytes
        # changed since) are skipped when read and pruned when the heap grows too large
        self._class_heap: list[list[tuple[int, bytes]]] = [[], []]
        self._decoded: tuple[bytes, Op] | None = None  # get() then remove() decode once

    # ------------------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._held)

    @property
    def bytes(self) -> int:
        """Bytes charged for the held ops: ``len(op.raw) + OP_OVERHEAD + WAIT_OVERHEAD * waits``
        each (``waits``: how many distinct ids it waits for)."""
        return self._bytes

    def __contains__(self, op_id: bytes) -> bool:
        return op_id in self._held

    def get(self, op_id: bytes) -> Op | None:
        held = self._held.get(op_id)
        return None if held is None else self._decode(op_id, held)

    def has_waiters(self) -> bool:
        return bool(self._waiting)

    def author_held(self, author: bytes) -> int:
        """Bytes held for ``author`` (both classes)."""
        return self._author_total.get(author, 0)

    def stranger_held(self) -> int:
        """Bytes held for strangers' ops."""
        return self._class_bytes[_STRANGER]

    def is_stranger_op(self, op_id: bytes) -> bool:
        return self._held[op_id].cls == _STRANGER

    def ops(self) -> Iterator[Op]:
        """Every held op, known authors' first, then by (lamport, id): re-parking them in this
        order (after a restart) keeps the ops the rules prefer."""
        for key in sorted(h.key(i) for i, h in self._held.items()):
            yield self._decode(key[2], self._held[key[2]])

    def missing(self, community: bytes | None = None, limit: int = 1024) -> list[bytes]:
        """Ids that held ops wait for and that are not held themselves: those with a known
        author's op waiting first, then by the lowest lamport of a waiter, then by id. Sync asks
        a peer for exactly these. ``community``: only ids that ops of that community wait for."""
        ranked = []
        for parent, waiters in self._waiting.items():
            if parent in self._held:
                continue
            best = None
            for w in waiters:
                h = self._held[w]
                if community is not None and h.community != community:
                    continue
                k = (h.cls, h.lamport)
                if best is None or k < best:
                    best = k
            if best is not None:
                ranked.append((best, parent))
        return [p for _, p in heapq.nsmallest(limit, ranked)]

    # ------------------------------------------------------------------------- changes
    def park(
        self, op: Op, missing: Iterable[bytes], known_author: bool
    ) -> tuple[bool, list[bytes]]:
        """Keep ``op`` until ``missing`` ids arrive. Returns (kept, ids evicted to make room).
        A refused op changes nothing. Parking an op already held keeps it as it was."""
        oid = op.id
        if oid in self._held:
            return True, []
        cls = _KNOWN if known_author else _STRANGER
        waits_for = tuple(sorted(set(missing)))
        cost = len(op.raw) + OP_OVERHEAD + WAIT_OVERHEAD * len(waits_for)
        cap = self.limit_bytes if known_author else self.stranger_bytes
        if cost > self.author_bytes or cost > cap:
            return False, []
        new = _Held(op.raw, op.author, op.community_id, op.lamport, waits_for, cls, cost)
        self._add(oid, new)
        evicted: list[tuple[bytes, _Held]] = []
        try:
            author = op.author
            while self._author_total[author] > self.author_bytes:
                evicted.append(self._evict(self._by_author[author][-1][2], oid))
            if cls == _STRANGER:
                while self._class_bytes[_STRANGER] > self.stranger_bytes:
                    evicted.append(self._evict(self._top(_STRANGER), oid))
            while self._bytes > self.limit_bytes:
                victim_cls = _STRANGER if self._class_bytes[_STRANGER] else _KNOWN
                evicted.append(self._evict(self._top(victim_cls), oid))
        except _Refused:
            self._drop(oid)
            for victim_id, held in evicted:
                self._add(victim_id, held)
            return False, []
        return True, [victim_id for victim_id, _ in evicted]

    def remove(self, op_id: bytes) -> Op:
        held = self._held[op_id]
        op = self._decode(op_id, held)
        self._drop(op_id)
        return op

    def take_waiters(self, parent_id: bytes) -> list[bytes]:
        """The ops that were waiting for ``parent_id`` (which has now arrived), in id order."""
        return sorted(self._waiting.pop(parent_id, ()))

    # ------------------------------------------------------------------------ internals
    def _decode(self, op_id: bytes, held: _Held) -> Op:
        cached = self._decoded
        if cached is not None and cached[0] == op_id:
            return cached[1]
        op = decode_op(held.raw, verify=False)  # authentic: checked before it was parked
        self._decoded = (op_id, op)
        return op

    def _evict(self, victim: bytes, newcomer: bytes) -> tuple[bytes, _Held]:
        if victim == newcomer:
            raise _Refused
        return victim, self._drop(victim)

    def _top(self, cls: int) -> bytes:
        """The op the class gives up first: from its author holding the most bytes in the class
        (ties: the lowest author id), that author's highest (lamport, id) op of the class."""
        heap, current = self._class_heap[cls], self._class_author[cls]
        while True:
            neg, author = heap[0]
            if current.get(author) == -neg:
                break
            heapq.heappop(heap)
        keys = self._by_author[author]
        if cls == _STRANGER:
            return keys[-1][2]  # strangers' keys sort last
        return keys[bisect_left(keys, (_STRANGER,)) - 1][2]

    def _add(self, op_id: bytes, held: _Held) -> None:
        self._held[op_id] = held
        for m in held.waits_for:
            self._waiting.setdefault(m, set()).add(op_id)
        insort(self._by_author.setdefault(held.author, []), held.key(op_id))
        self._account(held, held.cost)

    def _drop(self, op_id: bytes) -> _Held:
        held = self._held.pop(op_id)
        for p in held.waits_for:
            waiters = self._waiting.get(p)
            if waiters is not None:
                waiters.discard(op_id)
                if not waiters:
                    del self._waiting[p]
        keys = self._by_author[held.author]
        del keys[bisect_left(keys, held.key(op_id))]
        if not keys:
            del self._by_author[held.author]
        self._account(held, -held.cost)
        if self._decoded is not None and self._decoded[0] == op_id:
            self._decoded = None
        return held

    def _account(self, held: _Held, delta: int) -> None:
        author, cls = held.author, held.cls
        self._bytes += delta
        self._class_bytes[cls] += delta
        total = self._author_total.get(author, 0) + delta
        if total:
            self._author_total[author] = total
        else:
            del self._author_total[author]
        per_class = self._class_author[cls]
        now = per_class.get(author, 0) + delta
        heap = self._class_heap[cls]
        if now:
            per_class[author] = now
            heapq.heappush(heap, (-now, author))
        else:
            del per_class[author]
        if len(heap) > 2 * len(per_class) + 64:
            heap[:] = [(-b, a) for a, b in per_class.items()]
            heapq.heapify(heap)
