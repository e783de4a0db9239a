"""The embedding API (Node.open) on one and two real nodes."""

from __future__ import annotations

import pytest
import trio

from node import Node
from node.crdt.state import Rejected
from tests.net_helpers import nodes, op_ids, snapshot, wait_until


async def test_open_publish_query_events_and_reopen(tmp_path):
    async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False) as node:
        assert node.member_id.startswith("12D3KooW")
        got = []

        events = node.events()  # subscribed from here on

        async def follow():
            async for ev in events:
                got.append(ev)
                if len(got) == 2:
                    return

        async with trio.open_nursery() as n:
            n.start_soon(follow)
            cid = await node.create_community({"name": "Garden"})
            op = await node.publish(cid, "profile.set", {"display_name": "Ann"})
        assert [e.kind for e in got] == ["op", "op"] and got[1].op_id == op.id
        info = node.query("community_info", community=cid.hex())
        assert info["charter"]["name"] == "Garden"
        with pytest.raises(Rejected):
            await node.publish(cid, "nope.unknown", {})
        before = snapshot(node)
        member = node.member_id
    async with Node.open(tmp_path / "a", network=False) as again:
        assert again.member_id == member
        assert snapshot(again) == before
        assert again.status()["communities"][0]["name"] == "Garden"


async def test_two_nodes_sync_on_connect_and_gossip(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=2.0) as (a, b):
        cid = await a.create_community({"name": "Tools"})
        for i in range(20):
            await a.publish(cid, "profile.set", {"display_name": f"a{i}"})
        await b.follow(cid)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: op_ids(b, cid) == op_ids(a, cid))
        await trio.sleep(1.5)  # let the gossip mesh form
        op = await a.publish(cid, "profile.set", {"display_name": "fresh"})
        await wait_until(lambda: b.store.get_op(op.id) is not None)
        assert snapshot(a) == snapshot(b)
        st = a.status()
        assert st["peers"] == [b.member_id]
        assert st["communities"][0]["in_sync_with"] >= 0


async def test_bootstrap_address_is_dialled_and_members_only_sync_is_refused(tmp_path):
    async with Node.open(tmp_path / "a", insecure_plaintext=True, sync_interval=1.0) as a:
        open_c = await a.create_community({"name": "open"})
        closed = await a.create_community({"name": "closed", "visibility": "members"})
        async with Node.open(
            tmp_path / "b", insecure_plaintext=True, sync_interval=1.0, bootstrap=a.listen_addrs
        ) as b:
            await b.follow(open_c)
            await b.follow(closed)
            await wait_until(lambda: a.member_id in b.status()["peers"])  # no connect() call
            await wait_until(lambda: b.store.get_op(open_c) is not None)
            results = await b.sync_now(closed)
            assert results and all(r["reason"] == "not_member" for r in results)
            assert b.store.get_op(closed) is None
            assert op_ids(b, closed) == set()


async def test_events_include_ops_released_from_the_pending_area(tmp_path):
    import nacl.signing

    from node.crdt.op import NO_COMMUNITY, sign_op

    key = nacl.signing.SigningKey(b"\x09" * 32)
    g = sign_op(
        key,
        community=NO_COMMUNITY,
        seq=1,
        prev=None,
        lamport=1,
        ts=0,
        kind="community.create",
        body={"name": "late parents"},
    )
    o2 = sign_op(
        key,
        community=g.id,
        seq=2,
        prev=g.id,
        lamport=2,
        ts=1,
        kind="profile.set",
        body={"display_name": "x"},
    )
    async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False) as node:
        await node.follow(g.id)
        events = node.events()
        node.service._on_gossip("peer", [o2])  # the child first: it waits
        node.service._on_gossip("peer", [g])  # the parent releases it
        got = []
        with trio.fail_after(5):
            async for ev in events:
                got.append(ev.op_id)
                if len(got) == 2:
                    break
        assert set(got) == {g.id, o2.id}
