"""Per-author hash chains: continuity rules, range verification and fork proofs.

Each author's ops in a community form a chain: ``seq`` counts 1, 2, 3 ... and ``prev`` is the
id of the op before. Because an op's id hashes its whole signed encoding, a valid signature on
the last op of a contiguous range vouches for every op before it. That lets bulk sync check one
signature per range instead of one per op.

An op is *authentic* when its own signature verifies, or when an authentic op of the same
author links to it through ``prev``. Both checks accept the same set of ops, so per-op ingest
and range ingest converge on the same log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cbor2

from .op import MAX_OP_SIZE, Op, OpError, canonical, decode_op

# Two ops of at most MAX_OP_SIZE each, plus the array and byte-string headers.
MAX_FORK_PROOF_SIZE = 2 * MAX_OP_SIZE + 16


def check_successor(op: Op, before: Op | None) -> None:
    """Check that ``op`` directly follows ``before`` in its author's chain (``None``: start)."""
    if before is None:
        if op.seq != 1:
            raise OpError("chain_broken", f"seq {op.seq} has no predecessor")
        return
    if op.author != before.author or op.community_id != before.community_id:
        raise OpError("chain_broken", "range mixes authors or communities")
    if op.seq != before.seq + 1:
        raise OpError("chain_broken", f"seq {op.seq} does not follow {before.seq}")
    if op.prev != before.id:
        raise OpError("chain_broken", f"prev of seq {op.seq} is not the id of seq {before.seq}")
    if op.lamport <= before.lamport:
        raise OpError("bad_lamport", f"lamport of seq {op.seq} does not grow")


def verify_range(ops: Sequence[Op], before: Op | None = None) -> None:
    """Accept a contiguous range of one author's ops with a single signature check.

    ``before`` is the op the range continues from (``None`` when it starts at seq 1, or when
    the caller checks ``ops[0].prev`` itself). The ops must have been decoded with
    ``verify=False`` or ``verify=True``; only the last signature is checked here.
    """
    if not ops:
        return
    if before is not None or ops[0].seq == 1:
        check_successor(ops[0], before)
    # check_successor for each later op, inlined (it runs for every op of a bulk sync). An op
    # after the first has seq >= 2, so it is not a genesis op: its community_id is .community.
    first = ops[0]
    author, community = first.author, first.community_id
    prev_op = first
    for op in ops[1:]:
        if (
            op.author != author
            or op.community != community
            or op.seq != prev_op.seq + 1
            or op.prev != prev_op.id
            or op.lamport <= prev_op.lamport
        ):
            check_successor(op, prev_op)  # raises, with the precise reason
        prev_op = op
    ops[-1].verify_signature()


@dataclass(frozen=True, slots=True)
class ForkProof:
    """Two different, validly signed ops by one author at one (community, seq)."""

    a: Op
    b: Op

    @classmethod
    def of(cls, x: Op, y: Op) -> ForkProof:
        a, b = sorted((x, y), key=lambda o: o.id)
        proof = cls(a, b)
        proof.check()
        return proof

    def check(self) -> None:
        a, b = self.a, self.b
        if a.id == b.id:
            raise OpError("fork_same_op", "a fork proof needs two different ops")
        if (a.community_id, a.author, a.seq) != (b.community_id, b.author, b.seq):
            raise OpError("fork_mismatch", "the two ops are not at the same chain position")
        if a.id > b.id:
            raise OpError("fork_mismatch", "fork proof ops must be ordered by id")
        a.verify_signature()
        b.verify_signature()

    @property
    def community(self) -> bytes:
        return self.a.community_id

    @property
    def author(self) -> bytes:
        return self.a.author

    @property
    def seq(self) -> int:
        return self.a.seq

    def encode(self) -> bytes:
        return canonical([self.a.raw, self.b.raw])

    @classmethod
    def decode(cls, data: bytes) -> ForkProof:
        if not isinstance(data, (bytes, bytearray)):
            raise OpError("malformed", "fork proof must be bytes")
        if len(data) > MAX_FORK_PROOF_SIZE:
            raise OpError("too_large", f"fork proof of {len(data)} bytes")
        try:
            pair = cbor2.loads(data)
        except Exception as exc:
            raise OpError("malformed", "fork proof is not valid CBOR") from exc
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(x, bytes) for x in pair)
            or canonical(pair) != data
        ):
            raise OpError("malformed", "fork proof must be a canonical array of two ops")
        proof = cls(decode_op(pair[0], verify=False), decode_op(pair[1], verify=False))
        proof.check()
        return proof

    @property
    def split(self) -> bool:
        """Both ops name the same ``prev``: the proof shows where the chain split. (Twins that
        name different prevs continue a split further down: their prevs are two ops at
        ``seq - 1``.)"""
        return self.a.prev == self.b.prev


@dataclass(frozen=True, slots=True)
class Forked:
    """The fork proofs a node keeps against one author in one community: one per seq where
    the chain split (``ForkProof.split``), in the order they came, at most two.

    ``seq``: the author's ops there from this seq on are void: the split's seq when there is
    one, 1 when there are two. It is a function of the set of splits the node knows (only
    whether there are two, and else the one), so it cannot depend on the order proofs came
    in, and it only falls: none -> s -> 1. So one key can make a node rebuild a community at
    most twice, however many ops it wrote (``specs/ops.md`` §8)."""

    proofs: tuple[ForkProof, ...]

    @property
    def seq(self) -> int:
        return self.proofs[0].seq if len(self.proofs) == 1 else 1

    @property
    def community(self) -> bytes:
        return self.proofs[0].community

    @property
    def author(self) -> bytes:
        return self.proofs[0].author

    @property
    def latest(self) -> ForkProof:
        return self.proofs[-1]

    def final(self) -> bool:
        """No proof can change ``seq`` any more."""
        return self.seq == 1

    def knows(self, seq: int) -> bool:
        return self.final() or any(p.seq == seq for p in self.proofs)

    def plus(self, proof: ForkProof) -> Forked | None:
        """With ``proof`` (a split of this author here) added; None when it changes nothing."""
        if not proof.split or self.knows(proof.seq):
            return None
        return Forked((*self.proofs, proof))

    @classmethod
    def of(cls, proofs: Sequence[ForkProof]) -> Forked | None:
        """What ``proofs`` (one author's, in one community) amount to: their splits."""
        forked = None
        for p in proofs:
            if forked is None:
                forked = cls((p,)) if p.split else None
            else:
                forked = forked.plus(p) or forked
        return forked
