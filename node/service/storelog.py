"""What the service reports (events, sync records) and the store as the sync protocol sees it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.crdt.op import Op


@dataclass(frozen=True, slots=True)
class Event:
    """What ``Node.events()`` yields. kind: "op" (an op was applied, locally or from a peer),
    "fork" (a fork proof was stored), "peer_connected", "peer_disconnected", "synced",
    "sync_progress" (a session with ``peer`` is receiving ops: ``done`` so far of the
    ``expected`` the peer's heights announced; ``expected`` is None until they are known)."""

    kind: str
    community: bytes | None = None
    op_id: bytes | None = None
    op_kind: str | None = None
    peer: str | None = None
    done: int | None = None
    expected: int | None = None


@dataclass
class SyncRecord:
    ok: bool
    at: float
    ops_in: int = 0
    ops_out: int = 0
    reason: str = ""


class StoreLog:
    """The store seen through the sync protocol's LocalLog surface, reporting what changed."""

    def __init__(self, store: Any, on_outcomes: Callable[[list[Op], list[Any]], None]):
        self.store, self.on_outcomes = store, on_outcomes

    def heights(self, community: bytes) -> dict[bytes, tuple[int, bytes]]:
        return self.store.heights(community)

    def ops_from(self, community: bytes, author: bytes, from_seq: int, limit: int) -> list[Op]:
        return self.store.ops_from(community, author, from_seq, limit)

    def raw_from(self, community: bytes, author: bytes, from_seq: int, limit: int) -> list[bytes]:
        return self.store.raw_from(community, author, from_seq, limit)

    def entries_from(
        self, community: bytes, author: bytes, from_seq: int, limit: int
    ) -> list[tuple[int, int, bytes]]:
        return self.store.entries_from(community, author, from_seq, limit)

    def ingest_range(self, ops: list[Op]) -> list[Any]:
        outs = self.store.ingest_range(ops)
        self.on_outcomes(ops, outs)
        return outs

    def ingest_ranges(self, runs: list[list[Op]]) -> list[list[Any]]:
        results = self.store.ingest_ranges(runs)
        for run, outs in zip(runs, results, strict=True):
            self.on_outcomes(run, outs)
        return results

    def missing(self, community: bytes, limit: int) -> list[bytes]:
        return self.store.missing(community, limit)

    def chain_back(self, community: bytes, op_id: bytes, limit: int) -> list[Op]:
        return self.store.chain_back(community, op_id, limit)

    def fork_proofs(self, community: bytes) -> list[Any]:
        return self.store.fork_proofs(community)

    def add_fork_proof(self, proof: Any) -> None:
        self.add_fork_proofs([proof])

    def add_fork_proofs(self, proofs: list[Any]) -> None:
        outs = self.store.ingest_fork_proofs(proofs)  # one transaction: one rebuild at most
        self.on_outcomes([p.b for p in proofs], outs)
