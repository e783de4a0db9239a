"""Causal-past queries over the op graph.

Every permission rule is judged against an op's causal past (the ops reachable through
``prev`` and ``deps``), never against whatever else a node happens to hold, so that every
node reaches the same verdict whatever order ops arrive in.

Within one community an author's chain is linear, so the causal past of an op is
downward-closed per author and can be written as a vector clock: author -> highest seq.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class OpMeta(NamedTuple):
    """The parts of an op that causal queries need (kept small so a node can hold many)."""

    id: bytes
    author: bytes
    seq: int
    lamport: int
    parents: tuple[bytes, ...]  # prev (if any) followed by deps
    community: bytes = b""

    @classmethod
    def of(cls, op) -> OpMeta:
        parents = (op.prev, *op.deps) if op.prev is not None else op.deps
        return cls(op.id, op.author, op.seq, op.lamport, tuple(parents), op.community_id)


VectorClock = dict[bytes, int]


class CausalIndex:
    """Answers "is A in the causal past of X" using a lookup from op id to :class:`OpMeta`.

    The lookup must know every op in the past of the ops it is asked about; the store only
    applies an op once its whole past is present, so this holds for applied ops.
    """

    def __init__(self, lookup: Callable[[bytes], OpMeta | None]):
        self._lookup = lookup
        self._clocks: dict[bytes, VectorClock] = {}

    def meta(self, op_id: bytes) -> OpMeta:
        m = self._lookup(op_id)
        if m is None:
            raise KeyError(f"op {op_id.hex()[:16]} is not known")
        return m

    def in_past(self, a: OpMeta, x: OpMeta) -> bool:
        """True when ``a`` is ``x`` or happened before it."""
        if a.author == x.author:
            return a.seq <= x.seq
        if a.lamport >= x.lamport:
            return False
        clock = self._clocks.get(x.id)
        if clock is not None:
            return clock.get(a.author, 0) >= a.seq
        # Walk back from x, never below a's lamport: nothing there can have a in its past.
        seen: set[bytes] = set()
        stack = list(x.parents)
        while stack:
            y = self.meta(stack.pop())
            if y.author == a.author and y.seq >= a.seq:
                return True
            if y.id in seen or y.lamport <= a.lamport:
                continue
            seen.add(y.id)
            stack.extend(y.parents)
        return False

    def vector_clock(self, x: OpMeta) -> VectorClock:
        """The full causal past of ``x`` (including ``x``) as author -> highest seq. Memoized:
        use it for ops that freeze a cut (proposals, seals), not for every op."""
        clock = self._clocks.get(x.id)
        if clock is not None:
            return clock
        clock = {x.author: x.seq}
        seen: set[bytes] = set()
        stack = list(x.parents)
        while stack:
            op_id = stack.pop()
            if op_id in seen:
                continue
            seen.add(op_id)
            cached = self._clocks.get(op_id)
            if cached is not None:
                for author, seq in cached.items():
                    if clock.get(author, 0) < seq:
                        clock[author] = seq
                continue
            y = self.meta(op_id)
            if clock.get(y.author, 0) < y.seq:
                clock[y.author] = y.seq
            stack.extend(y.parents)
        self._clocks[x.id] = clock
        return clock


def clock_contains(clock: VectorClock, author: bytes, seq: int) -> bool:
    return clock.get(author, 0) >= seq
