"""A world of honest stores and hostile keys, synced through the real sync protocol.

Used by ``tests/test_byzantine_sync.py`` (a short profile in ``make test``) and by
``python -m bench adversarial`` (a long one). Not a test module itself.

The honest nodes are real :class:`~node.store.Store` files; they talk through real
:class:`~node.protocol.sync.SyncSession` pairs wired in memory (bytes in, bytes out), so every
rule of the protocol and of the store is on the path. Around them:

- an equivocating **member** X, who writes on whichever node it is shown, on top of what that
  node holds, so its chain branches at any depth and on any number of branches;
- a **stranger** S, whose ops are logged but rejected (never a member), and who also forks;
- **junk** ops of random keys whose deps never existed (they can only wait in pending);
- **forged fork proofs** by fresh keys that never wrote anything;
- honest members writing on their own node (profiles, a proposal, ballots), naming whatever
  their node holds as deps, X's branches included;
- syncs between random pairs, partitions (only some pairs talk for a while) and restarts.

At the end every pair syncs until nothing moves; then every honest node must hold the same
state, heights, fork proofs and tally, and no op of an honest author may wait in pending.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from node.crdt.chain import ForkProof
from node.crdt.op import sign_op
from node.protocol.sync import SyncError, SyncSession
from node.service.storelog import StoreLog
from node.store import Store
from tests.factory import author, key, twin
from tests.sync_helpers import run_pair

CHARTER = {"name": "bec", "membership": {"rule": "open"}}
HOUR = 3_600_000


@dataclass
class World:
    root: Path
    rng: random.Random
    n_nodes: int = 3
    stores: list[Store] = field(default_factory=list)
    community: bytes = b""
    proposal: bytes | None = None
    honest: list = field(default_factory=list)  # key i writes on node i (one key, one node)
    x = key(50)  # the equivocating member
    s = key(51)  # the stranger
    syncs: int = 0

    def __post_init__(self) -> None:
        self.honest = [key(i) for i in range(self.n_nodes)]

    def path(self, i: int) -> Path:
        return self.root / f"n{i}.db"

    def open(self) -> None:
        self.stores = [Store.open(self.path(i)) for i in range(self.n_nodes)]
        g = self.stores[0].create_community(self.honest[0], CHARTER)
        self.community = g.id
        for i in range(1, self.n_nodes):
            self.sync(0, i)
        for i, k in enumerate(self.honest):
            if i:
                self.stores[i].append(k, g.id, "member.join", {})
        self.stores[0].ingest([self.compose_x(0, "member.join", {})])
        self.settle()

    def close(self) -> None:
        for s in self.stores:
            s.close()

    # ---- what the actors do ------------------------------------------------------------
    def compose_x(self, node: int, kind: str, body: dict):
        return self.stores[node].replica.compose(self.x, self.community, kind, body)

    def step(self) -> None:
        rng, n = self.rng, self.n_nodes
        roll = rng.random()
        i = rng.randrange(n)
        store, c = self.stores[i], self.community
        if roll < 0.30:  # an honest member writes on its own node
            k = self.honest[i]
            if self.proposal and store.get_op(self.proposal) is not None and rng.random() < 0.4:
                choice = rng.choice(["yes", "no"])
                body = {"proposal": self.proposal, "choice": choice}
                store.append(k, c, "ballot.cast", body, deps=[self.proposal])
            elif self.proposal is None and i == 0 and rng.random() < 0.3:
                body = {"title": "t", "method": "basic", "opens": 0, "closes": 10**13,
                        "witnesses": [author(k) for k in self.honest]}  # fmt: skip
                self.proposal = store.append(k, c, "proposal.create", body, ts=0).id
            else:
                store.append(k, c, "profile.set", {"display_name": f"h{rng.randrange(99)}"})
        elif roll < 0.50:  # X writes on top of what node i holds: a new branch, or deeper
            if self.proposal is not None and store.get_op(self.proposal) and rng.random() < 0.3:
                op = self.compose_x(i, "ballot.cast", {"proposal": self.proposal, "choice": "yes"})
            else:
                op = self.compose_x(i, "profile.set", {"display_name": f"x{rng.randrange(99)}"})
            store.ingest([op])
        elif roll < 0.55:  # the stranger writes (rejected), sometimes twice at one seq
            s1 = sign_op(self.s, community=c, seq=1, prev=None, deps=[c], lamport=2,
                         ts=rng.randrange(99), kind="profile.set", body={"display_name": "s"})  # fmt: skip
            store.ingest([s1] if rng.random() < 0.5 else [s1, twin(self.s, s1)])
        elif roll < 0.62:  # junk that can never apply
            k = key(1000 + rng.randrange(10**6))
            junk = sign_op(k, community=c, seq=1, prev=None, deps=[rng.randbytes(32)],
                           lamport=rng.randrange(2, 50), ts=0, kind="profile.set",
                           body={"display_name": "junk"})  # fmt: skip
            store.ingest([junk])
        elif roll < 0.66:  # a forged fork proof by a fresh key
            k = key(2000 + rng.randrange(10**6))
            one = sign_op(k, community=c, seq=1, prev=None, deps=[c], lamport=2, ts=0,
                          kind="profile.set", body={"display_name": "f"})  # fmt: skip
            store.ingest_fork_proof(ForkProof.of(one, twin(k, one)).encode())
        elif roll < 0.70:  # a restart
            store.close()
            self.stores[i] = Store.open(self.path(i))
        else:  # a sync between two nodes (partitions: some pairs just do not talk for a while)
            j = rng.randrange(n)
            if j != i:
                self.sync(i, j)

    # ---- the network -------------------------------------------------------------------
    def sync(self, i: int, j: int) -> None:
        a = SyncSession(StoreLog(self.stores[i], lambda *x: None), community=self.community)
        b = SyncSession(StoreLog(self.stores[j], lambda *x: None))
        try:
            run_pair(a, b)
        except SyncError as exc:  # an honest pair never blames each other
            raise AssertionError(f"honest sync failed: {exc}") from exc
        self.syncs += 1

    def settle(self, rounds: int = 4) -> None:
        """Every pair syncs, a few times over: afterwards all have exchanged all they hold."""
        for _ in range(rounds):
            for i in range(self.n_nodes):
                for j in range(self.n_nodes):
                    if i != j:
                        self.sync(i, j)

    # ---- the promise -------------------------------------------------------------------
    def check(self) -> None:
        first, c = self.stores[0], self.community
        honest = {author(k) for k in self.honest}
        for store in self.stores:
            assert sorted(store.state.items()) == sorted(first.state.items())
            assert store.heights(c) == first.heights(c)
            assert store.forked(c) == first.forked(c)
            waiting = store._db.execute("SELECT raw FROM pending").fetchall()
            from node.crdt.op import decode_op

            assert not [r for (r,) in waiting if decode_op(r, verify=False).author in honest]
        if self.proposal is not None:
            tallies = [_tally(s, c, self.proposal) for s in self.stores]
            assert all(t == tallies[0] for t in tallies), tallies


def _tally(store: Store, community: bytes, proposal: bytes) -> dict:
    from node.governance import proposal_tally

    forked = {a: p.seq for (cc, a), p in store.replica.forks.items() if cc == community}
    return proposal_tally(store.state, store.causal, proposal, forked=forked)


def run(root: Path, seed: int, steps: int, n_nodes: int = 3) -> World:
    world = World(root, random.Random(seed), n_nodes)
    world.open()
    try:
        for _ in range(steps):
            world.step()
        world.settle()
        world.check()
    finally:
        world.close()
    return world
