"""Issue 9 through real libp2p hosts on 127.0.0.1: what split or banned honest peers before.

- Case 1: an equivocating member's branches are split between two nodes and an honest member
  builds on one of them; after the nodes connect, both hold the same state and nothing honest
  waits.
- Case 3: a community of 10,001 one-op authors syncs over the wire (it used to exceed the
  HELLO limit, each side blamed the other and they banned each other for 10 minutes).
"""

from __future__ import annotations

import nacl.signing

from node.crdt.op import sign_op
from tests.factory import twin
from tests.net_helpers import nodes, snapshot, wait_until

OPEN = {"name": "c", "membership": {"rule": "open"}}


def _penalties(node) -> dict:
    return {m: p.score for m, p in node.service.book.peers.items() if p.score}


async def test_split_equivocation_converges_over_libp2p(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=1.0) as (a, b):
        c = await a.create_community(OPEN)
        await b.follow(c)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: c in b.store.communities())
        await b.publish(c, "member.join", {})
        x = nacl.signing.SigningKey(b"\x09" * 32)
        join = a.store.replica.compose(x, c, "member.join", {})
        a.store.ingest([join])
        await wait_until(lambda: b.store.get_op(join.id) is not None)
        await a.block(b.member_id)  # a partition: each side sees one branch
        await b.block(a.member_id)
        xa = a.store.replica.compose(x, c, "profile.set", {"display_name": "a"})
        xb = twin(x, xa, body={"display_name": "b"})
        a.store.ingest([xa])
        b.store.ingest([xb])
        honest = await b.publish(c, "profile.set", {"display_name": "honest on b"})
        assert xb.id in honest.deps
        a.unblock(b.member_id)
        b.unblock(a.member_id)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: a.store.status(honest.id) == ("applied", ""), timeout=60)
        await wait_until(lambda: snapshot(a) == snapshot(b), timeout=60)
        assert a.store.pending_count() == b.store.pending_count() == 0
        assert a.store.heights(c) == b.store.heights(c)
        for node in (a, b):
            assert node.store.status(xa.id) == node.store.status(xb.id) == ("void", "author forked")


async def test_ten_thousand_authors_sync_without_blame(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=5.0) as (a, b):
        c = await a.create_community(OPEN)
        ops = []
        for i in range(10_001):
            k = nacl.signing.SigningKey(i.to_bytes(32, "big"))
            ops.append(sign_op(k, community=c, seq=1, prev=None, deps=[c], lamport=2, ts=0,
                               kind="member.join", body={}))  # fmt: skip
        a.store.ingest(ops)
        await b.follow(c)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: len(b.store.heights(c)) == 10_002, timeout=120)
        assert a.store.heights(c) == b.store.heights(c)
        assert _penalties(a) == _penalties(b) == {}
