"""Read queries of the store (a mixin of :class:`node.store.Store`): what sync and views ask."""

from __future__ import annotations

import sqlite3

from node.crdt.chain import ForkProof
from node.crdt.op import Op, decode_op
from node.crdt.replica import Replica

from .schema import STATUS_NAMES, Chains


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
        return [raw for _, _, raw in self.entries_from(community, author, from_seq, limit)]

    def entries_from(
        self, community: bytes, author: bytes, from_seq: int, limit: int | None = None
    ) -> list[tuple[int, int, bytes]]:
        """Like :meth:`raw_from`, as (lamport, seq, raw): what sync's outbox orders its pushes
        by, read from the row instead of decoded from the bytes."""
        chain = self.chains.get(community, author)
        if chain is None:
            return []
        if (community, author) not in self.replica.forks:
            return self._db.execute(
                "SELECT lamport, seq, raw FROM ops WHERE chain = ? AND seq >= ? ORDER BY seq"
                " LIMIT ?",
                (chain, from_seq, -1 if limit is None else limit),
            ).fetchall()
        # A forked author may have several ops at one seq: the first logged one (the one in
        # ``positions``, as below the fork seq there is only one) stands for its seq here.
        out, last = [], None
        rows = self._db.execute(
            "SELECT lamport, seq, raw FROM ops WHERE chain = ? AND seq >= ? ORDER BY seq, rowid",
            (chain, from_seq),
        )
        for row in rows:
            if row[1] != last:
                out.append(row)
                last = row[1]
                if limit is not None and len(out) >= limit:
                    break
        return out

    def chain_back(self, community: bytes, oid: bytes, limit: int) -> list[Op]:
        """The logged op ``oid`` (any status: void fork branches too) and then its author's
        earlier ops along ``prev``, newest first, at most ``limit``; [] if not logged. What
        sync serves when a peer asks for an op by id (``specs/sync.md``)."""
        metas, out = self.replica.metas, []
        meta = metas.get(oid)
        while meta is not None and meta.community == community and len(out) < limit:
            op = self.get_op(meta.id)
            if op is None:
                break
            out.append(op)
            meta = metas.get(op.prev) if op.prev is not None else None
        return out

    def missing(self, community: bytes, limit: int = 1024) -> list[bytes]:
        """Ids that pending ops of ``community`` wait for and this store does not hold."""
        return self.replica.missing(community, limit)

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
        row = self._db.execute(
            "SELECT raw FROM ops WHERE chain = ? AND seq = ? AND id = ?", (*where, oid)
        ).fetchone()
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
                "SELECT status, reason FROM ops WHERE chain = ? AND seq = ? AND id = ?",
                (*where, oid),
            ).fetchone()
            if row is not None:
                return STATUS_NAMES[row[0]], row[1]
        if self.replica.has(oid):
            return "pending", ""
        return None

    def fork_proofs(self, community: bytes) -> list[ForkProof]:
        """Every proof kept about the community's authors (``chain.Forked``), by author and
        seq. Two nodes may keep different proofs for an author void from seq 1 (the first two
        splits each learnt of): :meth:`forked` is what they agree on."""
        kept = [p for (c, _), f in self.replica.forks.items() if c == community for p in f.proofs]
        return sorted(kept, key=lambda p: (p.author, p.seq))

    def forked(self, community: bytes) -> dict[bytes, int]:
        """author -> the seq from which their ops in ``community`` are void (fork proofs)."""
        return {a: f.seq for (c, a), f in self.replica.forks.items() if c == community}

    def communities(self) -> list[bytes]:
        return self.replica.communities()

    def pending_count(self) -> int:
        return self.replica.pending_count()
