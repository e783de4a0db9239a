"""What one sync session moves, decided from the reconciled entries (``specs/sync.md``,
"Planning").

After reconciliation each side knows both sides' entries for every author where they differ,
so each side *pushes* what the other lacks (no want-list round trip for what the heights show)
and knows exactly which (author, seq) ranges the peer may push to it. Both sides plan from the
entries they *announced* (the session's snapshot), not from their current heights: ops that
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
from .wire import Entry


class LocalLog(Protocol):
    """What a session needs from the node's op log (``node.store.Store`` satisfies it).

    ``heights``: author -> (seq, id of the op at seq) for the single-branch prefix of each
    chain; for an author void from seq f (fork proofs: ``specs/ops.md`` §8) it is the prefix
    below f (absent when f == 1 and nothing below). ``ops_from`` returns ops of that prefix, ascending, one per seq.

    Optional (a session uses them when present; see :mod:`node.protocol.memlog` for the
    reference behaviour):

    - ``ingest_ranges(list of runs) -> list of outcome lists`` in ONE transaction (a batch
      holds one run per author); a run's first op may have an unknown ``prev`` (it waits in
      the pending area);
    - ``raw_from`` like ``ops_from`` but encoded bytes; ``entries_from`` the same as
      (lamport, seq, raw) tuples (the outbox then decodes nothing);
    - ``missing(community, limit) -> list[bytes]``: ids that pending ops of the community wait
      for and that the log does not hold, most wanted first;
    - ``chain_back(community, op_id, limit) -> list[Op]``: the logged op ``op_id`` (any status,
      void fork branches included), then its author's earlier ops along ``prev``, newest
      first, at most ``limit``; [] when ``op_id`` is not logged;
    - ``add_fork_proofs(list of proofs)``: a FORKS frame's proofs in ONE transaction (so a
      community whose state they make stale is rebuilt once, not once per proof).

    ``heights``' prefix rule: an author whose chain here ends below its fork seq keeps its
    height (those ops are one branch).
    """

    def heights(self, community: bytes) -> dict[bytes, tuple[int, bytes]]: ...

    def ops_from(self, community: bytes, author: bytes, from_seq: int, limit: int) -> list[Op]: ...

    def ingest_range(self, ops: list[Op]) -> list[Any]: ...

    def fork_proofs(self, community: bytes) -> list[ForkProof]: ...

    def add_fork_proof(self, proof: ForkProof) -> None: ...


def local_entries(log: LocalLog, community: bytes) -> list[Entry]:
    """This side's entries, sorted by author: one per author with a height or a fork proof."""
    hs = log.heights(community)
    forked = {p.author for p in log.fork_proofs(community)}
    out = []
    n = wire.HEAD_PREFIX
    for a in sorted(hs.keys() | forked):
        h = hs.get(a)
        out.append(Entry(a, 0, b"", True) if h is None else Entry(a, h[0], h[1][:n], a in forked))
    return out


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


def make_plan(
    log: LocalLog, community: bytes, mine: dict[bytes, Entry], theirs: dict[bytes, Entry]
) -> Plan:
    """Plan from both sides' entries for the authors that differ (an author missing from one
    map has no entry on that side)."""
    ranges: list[tuple[bytes, int, int]] = []
    for a, h in mine.items():
        if h.seq == 0:
            continue
        t = theirs.get(a)
        if t is None or t.seq == 0:
            ranges.append((a, 1, h.seq))
        elif t.seq < h.seq:
            at = log.ops_from(community, a, t.seq, 1)
            if at and at[0].id[: wire.HEAD_PREFIX] == t.head:
                ranges.append((a, t.seq + 1, h.seq))
            else:  # the chains diverge: show the peer our op at its height (a fork); it
                ranges.append((a, t.seq, t.seq))  # fetches the branch below by WANT
        elif t.seq == h.seq and t.head != h.head:
            ranges.append((a, h.seq, h.seq))
    # What the peer may push to us (mirror image of its plan, one op of slack for forks).
    expect: dict[bytes, list[int]] = {}
    budget = 0
    for a, t in theirs.items():
        if t.seq == 0:
            continue
        h = mine.get(a)
        hs = 0 if h is None else h.seq
        if hs == 0 or t.seq != hs or t.head != h.head:
            lo = 1 if hs == 0 else min(hs, t.seq)
            expect[a] = [lo, t.seq]
            budget += t.seq - lo + 1
    # Our proofs for the differing authors we know forked (the peer may know none, or a
    # higher fork seq; a duplicate proof costs it one check).
    send_for = {a for a, e in mine.items() if e.forked}
    proofs = [p.encode() for p in log.fork_proofs(community) if p.author in send_for]
    return Plan(Outbox(log, community, ranges), Inbound(community, expect, budget), proofs)
