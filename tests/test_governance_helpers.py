"""A small world for governance tests: real signed ops, the real Replica, records + governance
handlers. Not a test module itself (no tests); other governance tests import it."""

from __future__ import annotations

import hashlib

import nacl.signing

from node import governance
from node.crdt import records
from node.crdt.op import GENESIS_KIND, NO_COMMUNITY
from node.crdt.replica import Replica
from node.governance.outcome import plain

HANDLERS = {**records.HANDLERS, **governance.HANDLERS}
ELECTORATE = governance.from_records()
HOUR = 3_600_000


def key(i: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"gov-test-%d" % i).digest())


def pub(i: int) -> bytes:
    return bytes(key(i).verify_key)


# The tests of other rules use windows of an hour; the default floor of an action is two days
# between creation and close (the floor's own tests use the defaults).
SHORT = {"min_duration_ms": HOUR}
SHORT_VOTING = {"charter.amend": SHORT, "member.remove": SHORT}
# Open membership, one confirmation, no bounds on minutes: the rules the tests of tallies are
# written against (the safe defaults have their own tests in test_governance_capture.py).
PERMISSIVE = {
    "membership": {"rule": "open"},
    "attestation": {"confirmations": 1, "max_disputes": 0},
    "contribution": {"max_minutes": 10_000_000, "max_minutes_per_day": 10_000_000},
}


class World:
    """Member 0 founds the community (open membership); members 1..n-1 join at ts 0."""

    def __init__(self, n: int = 4, charter: dict | None = None):
        self.replica = Replica(HANDLERS)
        self.ops = []
        self.outcomes = {}
        self.n = n
        body = {"name": "c", "witnesses": [pub(0), pub(1), pub(2)], "voting": SHORT_VOTING}
        body.update(PERMISSIVE)
        body.update(charter or {})
        g = self.replica.compose(key(0), NO_COMMUNITY, GENESIS_KIND, body)
        self._ingest(g)
        self.cid = g.id
        for i in range(1, n):
            self.do(i, "member.join", {})

    def _ingest(self, op):
        self.ops.append(op)
        self.outcomes[op.id] = self.replica.ingest(op)
        return op

    def do(self, who: int, kind: str, body: dict, ts: int = 0, deps=()):
        op = self.replica.compose(key(who), self.cid, kind, body, deps=deps, ts=ts)
        return self._ingest(op)

    def status(self, op) -> str:
        o = self.outcomes[op.id]
        return o.status if o.status != "rejected" else "rejected:" + o.reason

    def propose(self, who=0, ts=0, **fields):
        body = {
            "title": "t",
            "method": "basic",
            "opens": 1 * HOUR,
            "closes": 2 * HOUR,
            "witnesses": [pub(i) for i in range(min(3, self.n))],  # members at the cut
            **fields,
        }
        return self.do(who, "proposal.create", body, ts=ts)

    def vote(self, who, p, choice, ts=HOUR + 1):
        return self.do(who, "ballot.cast", {"proposal": p.id, "choice": choice}, ts=ts, deps=[p.id])

    def seal(self, who, p, ts=2 * HOUR, heads=None):
        body = {"proposal": p.id}
        if heads is not None:
            body["heads"] = heads
        return self.do(who, "seal.create", body, ts=ts, deps=[p.id])

    def tally(self, p, replica=None, **kw):
        r = replica or self.replica
        forked = {a: proof.seq for (c, a), proof in r.forks.items() if c == self.cid}
        return governance.tally(r.state, r.causal, p.id, ELECTORATE, forked=forked, **kw)


def summary(t) -> dict:
    """The parts of a tally every node must agree on, as plain data."""
    return plain(
        {
            "status": t.status,
            "passed": t.passed,
            "winner": t.outcome.winner,
            "totals": t.outcome.count.totals,
            "counted": t.counted,
            "weights": t.weights,
            "ignored": t.ignored,
            "equivocators": t.equivocators,
            "seals": t.seals,
        }
    )
