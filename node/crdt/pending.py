"""The pending area: ops that wait for a missing ``prev`` or dep.

It is bounded so that a peer cannot fill a node's memory with ops that will never apply. When
full, the op with the highest lamport goes (the newest, furthest from applicable); sync fetches
it again once its past has arrived. The bound and this rule are in ``specs/ops.md``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from .op import Op


class PendingArea:
    def __init__(self, limit: int):
        self.limit = limit
        self._ops: dict[bytes, Op] = {}
        self._waiting: dict[bytes, set[bytes]] = {}  # missing parent id -> waiting op ids
        self._by_lamport: list[tuple[int, bytes]] = []  # max-heap by lamport, lazily pruned

    def __len__(self) -> int:
        return len(self._ops)

    def __contains__(self, op_id: bytes) -> bool:
        return op_id in self._ops

    def get(self, op_id: bytes) -> Op | None:
        return self._ops.get(op_id)

    def has_waiters(self) -> bool:
        return bool(self._waiting)

    def park(self, op: Op, missing: Iterable[bytes]) -> tuple[bool, bytes | None]:
        """Keep ``op`` until ``missing`` arrive. Returns (kept, evicted op id or None)."""
        evicted = None
        if len(self._ops) >= self.limit:
            evicted = self._highest()
            if evicted is None or self._ops[evicted].lamport <= op.lamport:
                return False, None
            self.remove(evicted)
        self._ops[op.id] = op
        for m in missing:
            self._waiting.setdefault(m, set()).add(op.id)
        heapq.heappush(self._by_lamport, (-op.lamport, op.id))
        return True, evicted

    def remove(self, op_id: bytes) -> Op:
        op = self._ops.pop(op_id)
        for p in (op.prev, *op.deps):
            waiters = self._waiting.get(p)
            if waiters is not None:
                waiters.discard(op_id)
                if not waiters:
                    del self._waiting[p]
        return op

    def missing(self, community: bytes | None = None, limit: int = 1024) -> list[bytes]:
        """Ids that held ops wait for, lowest waiting lamport first."""
        best: dict[bytes, int] = {}
        for parent, waiters in self._waiting.items():
            for w in waiters:
                op = self._ops[w]
                if community is None or op.community_id == community:
                    if parent not in best or op.lamport < best[parent]:
                        best[parent] = op.lamport
        return sorted(best, key=lambda p: (best[p], p))[:limit]

    def take_waiters(self, parent_id: bytes) -> list[bytes]:
        """The ops that were waiting for ``parent_id`` (which has now arrived), in id order."""
        return sorted(self._waiting.pop(parent_id, ()))

    def _highest(self) -> bytes | None:
        while self._by_lamport:
            _, op_id = self._by_lamport[0]
            if op_id in self._ops:
                return op_id
            heapq.heappop(self._by_lamport)
        return None
