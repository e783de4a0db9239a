"""An in-memory op log with the :class:`~node.protocol.sync.LocalLog` surface.

It keeps per-author chains only (no records, no pending area): enough to test the sync state
machine without SQLite and to serve as the reference for what the protocol needs from a store.
Range ingest checks the chain link and ONE signature per range, like ``Store.ingest_range``.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crdt.chain import ForkProof, verify_range
from node.crdt.op import Op, OpError


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    reason: str = ""


class MemoryLog:
    def __init__(self) -> None:
        self.chains: dict[tuple[bytes, bytes], list[Op]] = {}
        self.proofs: dict[tuple[bytes, bytes], ForkProof] = {}

    def add(self, ops: list[Op]) -> None:
        for op in ops:
            self.ingest_range([op])

    def heights(self, community: bytes) -> dict[bytes, tuple[int, bytes]]:
        return {a: (len(ch), ch[-1].id) for (c, a), ch in self.chains.items() if c == community}

    def ops_from(self, community: bytes, author: bytes, from_seq: int, limit: int) -> list[Op]:
        ch = self.chains.get((community, author), [])
        return ch[from_seq - 1 : from_seq - 1 + limit]

    def ingest_range(self, ops: list[Op]) -> list[Outcome]:
        if not ops:
            return []
        first = ops[0]
        chain = self.chains.setdefault((first.community_id, first.author), [])
        out: list[Outcome] = []
        fresh: list[Op] = []
        for op in ops:
            if op.seq <= len(chain) + len(fresh) and not fresh:
                have = chain[op.seq - 1]
                if have.id == op.id:
                    out.append(Outcome("duplicate"))
                    continue
                try:
                    proof = ForkProof.of(have, op)
                except OpError as exc:
                    return out + [Outcome("invalid", exc.reason)] * (len(ops) - len(out))
                self.add_fork_proof(proof)
                out.append(Outcome("fork"))
                continue
            fresh.append(op)
        if not fresh:
            return out
        if fresh[0].seq != len(chain) + 1:
            return out + [Outcome("pending")] * len(fresh)
        try:
            verify_range(fresh, chain[-1] if chain else None)
        except OpError as exc:
            return out + [Outcome("invalid", exc.reason)] * len(fresh)
        chain.extend(fresh)
        return out + [Outcome("applied")] * len(fresh)

    def fork_proofs(self, community: bytes) -> list[ForkProof]:
        return [p for (c, _), p in sorted(self.proofs.items()) if c == community]

    def add_fork_proof(self, proof: ForkProof) -> None:
        self.proofs.setdefault((proof.community, proof.author), proof)

    def all_ids(self, community: bytes) -> set[bytes]:
        return {op.id for (c, _), ch in self.chains.items() if c == community for op in ch}
