"""Read queries of the store (a mixin of :class:`node.store.Store`): what sync and views ask."""

from __future__ import annotations

import sqlite3

from node.crdt.chain import ForkProof
from node.crdt.op import Op, decode_op
from node.crdt.replica import Replica

from .schema import Chains


class Queries:
    replica: Replica
    chains: Chains
    _db: sqlite3.Connection

    def heights(self, community: bytes) -> dict[bytes, tuple[int, bytes]]:
        """author -> (highest seq in the log, id of that op)."""
        return {a: (h.seq, h.id) for a, h in self.replica.heights(community).items()}

    def ops_from(
        self, community: bytes, author: bytes, from_seq: int, limit: int | None = None
    ) -> list[Op]:
        """Logged ops of one author from ``from_seq`` on, in seq order."""
        return [
            decode_op(r, verify=False) for r in self.raw_from(community, author, from_seq, limit)
        ]

    def raw_from(
        self, community: bytes, author: bytes, from_seq: int, limit: int | None = None
    ) -> list[bytes]:
        """Like :meth:`ops_from`, but the encoded bytes (what sync sends; no decoding)."""
        chain = self.chains.get(community, author)
        if chain is None:
            return []
        rows = self._db.execute(
            "SELECT raw FROM ops WHERE chain = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (chain, from_seq, -1 if limit is None else limit),
        )
        return [raw for (raw,) in rows]

    def _position(self, oid: bytes) -> tuple[int, int] | None:
        """(chain, seq) of a logged op, from the replica's in-memory metadata."""
        meta = self.replica.metas.get(oid)
        if meta is None:
            return None
        chain = self.chains.get(meta.community, meta.author)
        return None if chain is None else (chain, meta.seq)

    def get_raw(self, oid: bytes) -> bytes | None:
        where = self._position(oid)
        if where is None:
            return None
        row = self._db.execute("SELECT raw FROM ops WHERE chain = ? AND seq = ?", where).fetchone()
        return row[0] if row else None

    def get_op(self, oid: bytes) -> Op | None:
        """A logged op by id (pending ops are not served)."""
        raw = self.get_raw(oid)
        return decode_op(raw, verify=False) if raw is not None else None

    def status(self, oid: bytes) -> tuple[str, str] | None:
        """(status, reason) of an op this store holds: applied, rejected, void or pending."""
        where = self._position(oid)
        if where is not None:
            row = self._db.execute(
                "SELECT status, reason FROM ops WHERE chain = ? AND seq = ?", where
            ).fetchone()
            if row is not None:
                return row[0], row[1]
        if self.replica.has(oid):
            return "pending", ""
        return None

    def fork_proofs(self, community: bytes) -> list[ForkProof]:
        return [p for p in self.replica.forks.values() if p.community == community]

    def communities(self) -> list[bytes]:
        return self.replica.communities()

    def pending_count(self) -> int:
        return self.replica.pending_count()
