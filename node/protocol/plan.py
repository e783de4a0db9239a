"""What one sync session moves, decided from the two HELLOs (``specs/sync.md``, "Planning").

After the HELLOs each side knows both height maps, so each side *pushes* what the other lacks
(no want-list round trip) and knows exactly which (author, seq) ranges the peer may push to it.
Both sides plan from the heights they *announced*, not from their current heights: ops that
arrive meanwhile (by gossip) are then duplicates, never a protocol violation.

Also here: :class:`LocalLog`, what a session needs from the node's op log, and
:class:`Inbound`, the check of every pushed op against the plan before anything is ingested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from node.crdt.chain import ForkProof
from node.crdt.op import Op, OpError, decode_op

from . import wire
from .outbox import Outbox
from .syncerror import SyncError
from .wire import Height, Hello


class LocalLog(Protocol):
    """What a session needs from the node's op log (``node.store.Store`` satisfies it)."""

    def heights(self, community: bytes) -> dict[bytes, tuple[int, bytes]]: ...

    def ops_from(self, community: bytes, author: bytes, from_seq: int, limit: int) -> list[Op]: ...

    def ingest_range(self, ops: list[Op]) -> list[Any]: ...

    # Optional: ``ingest_ranges(list of ranges) -> list of outcome lists`` in ONE transaction;
    # used when present (a batch holds one run per author).

    def fork_proofs(self, community: bytes) -> list[ForkProof]: ...

    def add_fork_proof(self, proof: ForkProof) -> None: ...


def local_hello(log: LocalLog, community: bytes) -> Hello:
    hs = log.heights(community)
    heights = tuple(
        Height(a, seq, head[: wire.HEAD_PREFIX]) for a, (seq, head) in sorted(hs.items())
    )
    forked = tuple(sorted({p.author for p in log.fork_proofs(community)}))
    return Hello(community, heights, forked)


class Inbound:
    """What the peer may push: per author a [next allowed seq, last allowed seq] span, and how
    many ops in all. Anything else is a protocol violation (:class:`SyncError`, blame)."""

    def __init__(self, community: bytes, expect: dict[bytes, list[int]], budget: int):
        self.community, self.expect, self.budget = community, expect, budget

    def take(self, raws: Sequence[bytes]) -> dict[bytes, list[Op]]:
        """Check one pushed batch; returns its ops as per-author contiguous runs."""
        self.budget -= len(raws)
        if self.budget < 0:
            raise SyncError("unexpected_op", "more ops than the heights announced")
        runs: dict[bytes, list[Op]] = {}
        for raw in raws:
            try:
                op = decode_op(raw, verify=False)
            except OpError as exc:
                raise SyncError(exc.reason, exc.detail) from exc
            if op.community_id != self.community:
                raise SyncError("wrong_community", "op of another community")
            span = self.expect.get(op.author)
            if span is None or not span[0] <= op.seq <= span[1]:
                raise SyncError("unexpected_op", f"seq {op.seq} is outside the announced range")
            run = runs.setdefault(op.author, [])
            if run and op.seq != run[-1].seq + 1:
                raise SyncError("chain_broken", "ops of one author are not contiguous")
            run.append(op)
        for author, run in runs.items():
            self.expect[author][0] = run[-1].seq + 1
        return runs


@dataclass
class Plan:
    outbox: Outbox  # the ops we push, in causal order
    inbound: Inbound  # what the peer may push to us
    proofs: list[bytes]  # encoded fork proofs the peer lacks


def make_plan(log: LocalLog, community: bytes, mine: Hello, theirs: Hello) -> Plan:
    my = {h.author: h for h in mine.heights}
    their = {h.author: h for h in theirs.heights}
    ranges: list[tuple[bytes, int, int]] = []
    for a, h in my.items():
        t = their.get(a)
        if t is None:
            ranges.append((a, 1, h.seq))
        elif t.seq < h.seq:
            at = log.ops_from(community, a, t.seq, 1)
            if at and at[0].id[: wire.HEAD_PREFIX] == t.head:
                ranges.append((a, t.seq + 1, h.seq))
            else:  # the chains diverge: show the peer our op at its height (a fork)
                ranges.append((a, t.seq, t.seq))
        elif t.seq == h.seq and t.head != h.head:
            ranges.append((a, h.seq, h.seq))
    # What the peer may push to us (mirror image of its plan, one op of slack for forks).
    expect: dict[bytes, list[int]] = {}
    budget = 0
    for a, t in their.items():
        h = my.get(a)
        lo = 1 if h is None else min(h.seq, t.seq)
        if h is None or t.seq > h.seq or t.head != h.head or t.seq < h.seq:
            expect[a] = [lo, t.seq]
            budget += t.seq - lo + 1
    send_for = set(mine.forked) - set(theirs.forked)
    proofs = [p.encode() for p in log.fork_proofs(community) if p.author in send_for]
    return Plan(Outbox(log, community, ranges), Inbound(community, expect, budget), proofs)
