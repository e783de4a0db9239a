"""Helpers shared by the records tests (no tests here): deterministic keys, a small world that
signs ops through a real Replica, and a state snapshot for convergence checks."""

from __future__ import annotations

import nacl.signing

from node.crdt.op import Op
from node.crdt.records import HANDLERS
from node.crdt.replica import Replica

KEYS = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(12)]
PUB = [bytes(k.verify_key) for k in KEYS]
DAY = 24 * 3600 * 1000
T0 = 1_700_000_000_000


# The rules these tests were written against: open membership, one confirmation, no bounds
# on minutes. The safe defaults of a new community have their own tests
# (tests/test_governance_capture.py).
PERMISSIVE = {
    "membership": {"rule": "open"},
    "attestation": {"confirmations": 1, "max_disputes": 0},
    "contribution": {"max_minutes": 10_000_000, "max_minutes_per_day": 10_000_000},
}


class World:
    """One replica that every author writes through (so each op sees everything before it),
    unless an op is composed with ``isolated`` deps."""

    def __init__(self, charter: dict | None = None, handlers=None):
        self.replica = Replica(HANDLERS if handlers is None else handlers)
        self.ops: list[Op] = []
        self.ts = T0
        body = {**PERMISSIVE, **(charter or {"name": "c"})}
        genesis = self.replica.compose(KEYS[0], b"", "community.create", body)
        self.community = genesis.id
        self.genesis = genesis
        self.ingest(genesis)

    @property
    def state(self):
        return self.replica.state

    def ingest(self, op: Op):
        out = self.replica.ingest(op)
        self.ops.append(op)
        return out

    def op(self, who: int, kind: str, body: dict, *, deps=(), ts=None) -> Op:
        self.ts += 1000
        return self.replica.compose(
            KEYS[who], self.community, kind, body, deps=deps, ts=self.ts if ts is None else ts
        )

    def do(self, who: int, kind: str, body: dict, *, deps=(), ts=None):
        """Compose, ingest, return (op, outcome)."""
        op = self.op(who, kind, body, deps=deps, ts=ts)
        return op, self.ingest(op)

    def ok(self, who: int, kind: str, body: dict, **kw) -> Op:
        op, out = self.do(who, kind, body, **kw)
        assert out.status == "applied", (kind, out)
        return op

    def rejected(self, who: int, kind: str, body: dict, reason: str, **kw) -> Op:
        """Assert the op is rejected with ``reason`` and the state did not change."""
        before = snapshot_state(self.replica)
        op, out = self.do(who, kind, body, **kw)
        assert (out.status, out.reason) == ("rejected", reason), (kind, out)
        assert snapshot_state(self.replica) == before
        return op

    def join(self, *who: int) -> None:
        for w in who:
            self.ok(w, "member.join", {})


def snapshot_state(replica: Replica):
    return sorted(replica.state.items(), key=lambda t: (t[0], t[1]))


def snapshot(replica: Replica):
    return snapshot_state(replica), dict(replica.rejections)


def offer_body(**kw) -> dict:
    body = {
        "title": "drill",
        "category": "tools/power/drill",
        "action": "lend",
        "expires": T0 + 100 * DAY,
    }
    body.update(kw)
    return body


def view_without(world: World, excluded: set[bytes]) -> Replica:
    """A replica holding every op of ``world`` except ``excluded`` (and what depends on
    them): an author writing from it has not seen the excluded ops."""
    r = Replica(world.replica.handlers)
    for op in world.ops:
        if op.id not in excluded:
            r.ingest(op)
    return r


def compose_on(world: World, replica: Replica, who: int, kind: str, body: dict) -> Op:
    world.ts += 1000
    return replica.compose(KEYS[who], world.community, kind, body, ts=world.ts)


def governance_handlers():
    """HANDLERS plus two test kinds that call the entry points governance uses."""
    from node.crdt.records import apply_charter_amendment, remove_member

    def amend(op, ctx):
        apply_charter_amendment(ctx.state, op.community, op.body, ctx.causal.meta(op.id))

    def remove(op, ctx):
        remove_member(ctx.state, op.community, op.body["member"], ctx.causal.meta(op.id))

    return {**HANDLERS, "test.amend": amend, "test.remove": remove}
