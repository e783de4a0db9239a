"""An in-memory op log with the :class:`~node.protocol.plan.LocalLog` surface.

It keeps the log model the protocol relies on, without records or SQLite: enough to test the
sync state machine and to serve as the reference for what the protocol needs from a store.

- An op is *logged* when it is authentic and its ``prev`` and ``deps`` are logged (whatever
  their status); otherwise it waits in the pending area for the ids it lacks.
- An equivocating author may have several logged ops at one (community, author, seq): every
  authentic op whose parents are known is logged, also on a fork branch. Two logged ops at one
  position that name one ``prev`` are a split (a fork proof, kept: ``chain.Forked``); the
  author's ops from f on are void (logged, no effect here), where f is the split's seq, or 1
  once there are two.
- ``heights``: per author the single-branch prefix: (top seq, its id), or for a forked author
  (min(top, f - 1), its id), absent when that is 0.
- ``missing`` / ``chain_back``: what the sync protocol's WANT / GOT need (``fetch.py``).
- Range ingest checks the ``prev`` links and ONE signature per run, like
  ``Store.ingest_ranges``; a run's first op may have an unknown ``prev`` (it then waits).
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crdt.chain import Forked, ForkProof, verify_range
from node.crdt.op import Op, OpError

ChainKey = tuple[bytes, bytes]  # (community, author)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    reason: str = ""


class MemoryLog:
    def __init__(self) -> None:
        self.logged: dict[bytes, Op] = {}  # id -> op, every status
        self.status: dict[bytes, str] = {}  # id -> applied | fork | void
        self.at: dict[ChainKey, dict[int, list[bytes]]] = {}  # seq -> logged ids there
        self.top: dict[ChainKey, int] = {}
        self.proofs: dict[ChainKey, Forked] = {}  # the splits known
        self.pending: dict[bytes, Op] = {}  # id -> op waiting (insertion order = priority)
        self.waits: dict[bytes, set[bytes]] = {}  # pending id -> ids it lacks
        self.waiters: dict[bytes, set[bytes]] = {}  # lacking id -> pending ids waiting for it

    def add(self, ops: list[Op], *, verify: bool = True) -> list[Outcome]:
        """Ingest ops one by one (each its own run: one signature check each; ``verify=False``
        skips it, for test logs built from ops the test just signed)."""
        if not verify:
            return [self._ingest(op) for op in ops]
        return [self.ingest_range([op])[0] for op in ops]

    # ---- what the protocol reads -------------------------------------------------------------
    def heights(self, community: bytes) -> dict[bytes, tuple[int, bytes]]:
        out = {}
        for (c, a), top in self.top.items():
            if c != community:
                continue
            v = self._void_from((c, a))
            s = top if v is None else min(top, v - 1)
            if s >= 1:
                out[a] = (s, self.at[(c, a)][s][0])
        return out

    def ops_from(self, community: bytes, author: bytes, from_seq: int, limit: int) -> list[Op]:
        """Ops of the single-branch prefix (the part ``heights`` covers), ascending."""
        h = self.heights_of(community, author)
        pos = self.at.get((community, author), {})
        last = min(h, from_seq + limit - 1)
        return [self.logged[pos[s][0]] for s in range(from_seq, last + 1)]

    def heights_of(self, community: bytes, author: bytes) -> int:
        top = self.top.get((community, author), 0)
        v = self._void_from((community, author))
        return top if v is None else min(top, v - 1)

    def _void_from(self, key: ChainKey) -> int | None:
        """The author's ops from this seq on are void (never a community's genesis)."""
        forked = self.proofs.get(key)
        return None if forked is None else forked.seq

    def missing(self, community: bytes, limit: int) -> list[bytes]:
        """Ids that pending ops of ``community`` wait for and that we do not hold (neither
        logged nor pending), oldest waiter first, its ``prev`` before its deps."""
        out: list[bytes] = []
        seen: set[bytes] = set()
        for oid, op in self.pending.items():
            if op.community_id != community:
                continue
            wanted = ([op.prev] if op.prev else []) + sorted(op.deps)
            for x in wanted:
                if x in self.waits[oid] and x not in seen and x not in self.pending:
                    seen.add(x)
                    out.append(x)
                    if len(out) >= limit:
                        return out
        return out

    def chain_back(self, community: bytes, op_id: bytes, limit: int) -> list[Op]:
        """The logged op ``op_id`` (any status) and its author's earlier ops along ``prev``,
        newest first, at most ``limit``; [] when it is not logged."""
        out: list[Op] = []
        op = self.logged.get(op_id)
        if op is None or op.community_id != community:
            return out
        while op is not None and len(out) < limit:
            out.append(op)
            op = self.logged.get(op.prev) if op.prev else None
        return out

    def fork_proofs(self, community: bytes) -> list[ForkProof]:
        return [p for (c, _), f in sorted(self.proofs.items()) if c == community for p in f.proofs]

    # ---- ingest ------------------------------------------------------------------------------
    def ingest_range(self, ops: list[Op]) -> list[Outcome]:
        return self.ingest_ranges([ops])[0]

    def ingest_ranges(self, runs: list[list[Op]]) -> list[list[Outcome]]:
        results = []
        for run in runs:
            try:
                verify_range(run)
            except OpError as exc:
                results.append([Outcome("invalid", exc.reason)] * len(run))
                continue
            results.append([self._ingest(op) for op in run])
        return results

    def add_fork_proof(self, proof: ForkProof) -> None:
        """A checked proof: keep it if it is a new split, and take both ops (they are
        authentic; each is logged once its parents are known)."""
        self._note_proof(proof)
        self._ingest(proof.a)
        self._ingest(proof.b)

    def _note_proof(self, proof: ForkProof) -> None:
        key = (proof.community, proof.author)
        have = self.proofs.get(key)
        forked = Forked.of([proof]) if have is None else have.plus(proof)
        if forked is not None:
            self.proofs[key] = forked

    def _ingest(self, op: Op) -> Outcome:
        if op.id in self.logged or op.id in self.pending:
            return Outcome("duplicate")
        needs = [op.prev, *op.deps] if op.prev else op.deps
        lacking = {x for x in needs if x not in self.logged}
        if lacking:
            self.pending[op.id] = op
            self.waits[op.id] = lacking
            for x in lacking:
                self.waiters.setdefault(x, set()).add(op.id)
            return Outcome("pending")
        status = self._log(op)
        self._release(op.id)
        return Outcome(status)

    def _log(self, op: Op) -> str:
        key = (op.community_id, op.author)
        here = self.at.setdefault(key, {}).setdefault(op.seq, [])
        status = "applied"
        if here:
            twin = next((x for x in here if self.logged[x].prev == op.prev), None)
            if twin is not None:
                self._note_proof(ForkProof.of(self.logged[twin], op))
            status = "fork"
        elif (v := self._void_from(key)) is not None and op.seq >= v and op.id != key[0]:
            status = "void"
        here.append(op.id)
        self.logged[op.id] = op
        self.status[op.id] = status
        self.top[key] = max(self.top.get(key, 0), op.seq)
        return status

    def _release(self, oid: bytes) -> None:
        ready = [oid]
        while ready:
            x = ready.pop()
            for w in sorted(self.waiters.pop(x, ())):
                self.waits[w].discard(x)
                if not self.waits[w]:
                    op = self.pending.pop(w)
                    del self.waits[w]
                    self._log(op)
                    ready.append(w)

    # ---- for tests -------------------------------------------------------------------------
    def all_ids(self, community: bytes) -> set[bytes]:
        return {i for i, op in self.logged.items() if op.community_id == community}

    def pending_ids(self, community: bytes) -> set[bytes]:
        return {i for i, op in self.pending.items() if op.community_id == community}
