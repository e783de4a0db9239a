"""The embedding API (Node.open) on one and two real nodes."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import AsyncExitStack

import pytest
import trio

from node import Node
from node.crdt.state import Rejected
from node.store import Store
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
            cid = await node.create_community({"name": "Garden", "membership": {"rule": "open"}})
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
        cid = await a.create_community({"name": "Tools", "membership": {"rule": "open"}})
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
        open_c = await a.create_community({"name": "open", "membership": {"rule": "open"}})
        closed = await a.create_community(
            {"name": "closed", "membership": {"rule": "open"}, "visibility": "members"}
        )
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
    from tests.factory import genesis, key, next_op

    g = genesis(key(8), name="late parents")
    o2 = next_op(key(8), g, kind="profile.set", body={"display_name": "x"}, ts=1)
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


async def test_gossip_ops_share_a_commit_until_the_gossip_pauses(tmp_path):
    """Gossip ops are read back at once; the file has them once gossip pauses for
    ``GOSSIP_LINGER`` (the daemon's upkeep commits them), and a local op commits them first."""
    from node.service.service import GOSSIP_LINGER
    from tests.factory import genesis, key, next_op, ops_in_file

    g = genesis(key(8), name="gossip commits", membership={"rule": "open"})
    chain = [g]
    for i in range(3):
        chain.append(next_op(key(8), chain[-1], kind="profile.set", body={"bio": str(i)}, ts=i))
    async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False) as node:
        await node.follow(g.id)
        store = node.store
        store.commit_due()
        now = [1000.0]
        store._clock = lambda: now[0]  # the upkeep's commit_due sees this clock too
        path, before = store.path, ops_in_file(store.path)
        for op in chain[:2]:
            node.service._on_gossip("peer", [op])
            now[0] += GOSSIP_LINGER / 2
        assert store.get_op(chain[1].id) is not None  # read back at once
        store.commit_due()
        assert ops_in_file(path) == before  # gossip has not paused long enough
        now[0] += GOSSIP_LINGER
        store.commit_due()
        assert ops_in_file(path) == before + 2
        node.service._on_gossip("peer", [chain[2]])
        assert ops_in_file(path) == before + 2
        await node.publish(g.id, "member.join", {})  # a local op is durable: the span first
        assert ops_in_file(path) == before + 4


def _all_ops(node, community: bytes) -> list:
    return [
        op
        for author, (seq, _) in node.store.heights(community).items()
        for op in node.store.ops_from(community, author, 1, seq)
    ]


def _exchange(ns, community: bytes) -> None:
    """Offline replication: every node ingests every op the others hold (one batch each)."""
    for dst in ns:
        dst.store.ingest([op for src in ns if src is not dst for op in _all_ops(src, community)])


async def test_seal_names_every_head_so_a_large_vote_becomes_final(tmp_path):
    """23 members vote (more heads than one op's 16 deps reach); three witnesses seal with
    Node.seal after the close; the tally is final on every node and counts every ballot."""
    import nacl.signing

    async with AsyncExitStack() as stack:
        ws = [
            await stack.enter_async_context(
                Node.open(tmp_path / f"w{i}", insecure_plaintext=True, network=False)
            )
            for i in range(3)
        ]
        a = ws[0]
        cid = await a.create_community(
            {"name": "Big", "membership": {"rule": "open"}, "witnesses": [w.public_key for w in ws]}
        )
        _exchange(ws, cid)
        for w in ws[1:]:
            await w.publish(cid, "member.join", {})
        _exchange(ws, cid)  # a's next ops have the witnesses' joins in their causal past
        voters = [nacl.signing.SigningKey.generate() for _ in range(20)]
        for k in voters:  # members without a node of their own, written into a's store
            a.store.append(k, cid, "member.join", {})
        now = time.time_ns() // 1_000_000
        body = {"title": "Big vote", "method": "basic", "opens": now - 60_000, "closes": now - 1}
        # Created before its close (a proposal may not close before it was created).
        key_a = a.identity.signing_key
        pid = a.store.append(key_a, cid, "proposal.create", body, ts=now - 60_000).id
        _exchange(ws, cid)
        ballot, then = {"proposal": pid, "choice": "yes"}, now - 30_000  # in the window
        for w in ws:  # the witnesses vote on their own stores
            w.store.append(w.identity.signing_key, cid, "ballot.cast", ballot, [pid], ts=then)
        # Each voter votes from a device of its own that holds everything up to the
        # proposal: 23 concurrent ballots, which no op's 16 deps can all reach.
        upto = _all_ops(a, cid)
        for i, k in enumerate(voters):
            with Store.open(tmp_path / f"voter{i}.db") as own:
                own.ingest(upto)
                a.store.ingest([own.append(k, cid, "ballot.cast", ballot, [pid], ts=then)])
        _exchange(ws, cid)
        everyone = sorted(bytes(k.verify_key).hex() for k in voters) + sorted(
            w.public_key.hex() for w in ws
        )
        assert len(a.store.heights(cid)) == 23

        sealed = [await w.seal(cid, pid) for w in ws]
        for ops in sealed:
            assert [op.body["final"] for op in ops] == [True]
            assert len(ops[0].body["heads"]) == 23  # every author, not only 16 deps
        with pytest.raises(Rejected, match="seal_twice"):
            await a.seal(cid, pid)
        assert a.query("proposal_tally", proposal=pid.hex())["status"] == "provisional"
        _exchange(ws, cid)
        tallies = [w.query("proposal_tally", proposal=pid.hex()) for w in ws]
        assert tallies[0] == tallies[1] == tallies[2]
        t = tallies[0]
        assert t["status"] == "final" and len(t["seals"]) == 3
        assert sorted(t["counted"]) == sorted(everyone)
        assert t["totals"]["yes"] == "23" and t["passed"] is True
        assert not t["ignored"].get("not_sealed")


async def test_seal_before_the_close_is_refused_through_the_control_api(tmp_path):
    from node.service.control import RpcError, dispatch

    async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False) as a:
        cid = await a.create_community(
            {"name": "Soon", "membership": {"rule": "open"}, "witnesses": [a.public_key]}
        )
        now = time.time_ns() // 1_000_000
        body = {"title": "Later", "method": "basic", "opens": now, "closes": now + 3_600_000}
        pid = (await a.publish(cid, "proposal.create", body)).id
        with pytest.raises(Rejected, match="seal_early"):
            await dispatch(a, "seal", {"community": cid.hex(), "proposal": pid.hex()})
        with pytest.raises(RpcError):
            await dispatch(a, "seal", {"community": cid.hex(), "proposal": "zz"})
        assert a.store.heights(cid)[a.public_key][0] == 2  # nothing was stored


async def test_one_node_per_data_dir(tmp_path):
    from node.api import DataDirBusy, claim_data_dir, lock_data_dir

    home = tmp_path / "a"
    async with Node.open(home, insecure_plaintext=True, network=False) as a:
        with pytest.raises(DataDirBusy, match=str(home)) as err:
            async with Node.open(home, insecure_plaintext=True, network=False):
                pass
        assert err.value.reason == "data_dir_busy"
        with pytest.raises(DataDirBusy), claim_data_dir(home):
            pass
        cid = await a.create_community(
            {"name": "Still mine", "membership": {"rule": "open"}}
        )  # the holder is unharmed
    os.close(lock_data_dir(home))  # free again
    with claim_data_dir(home):  # what `we daemon` does before its node opens
        with pytest.raises(DataDirBusy):
            lock_data_dir(home)  # as any other process would
        async with Node.open(home, network=False) as again:  # uses the claim
            assert again.store.get_op(cid) is not None
            with pytest.raises(DataDirBusy):
                async with Node.open(home, network=False):
                    pass
        with pytest.raises(DataDirBusy):
            lock_data_dir(home)  # still claimed after the node closed
    os.close(lock_data_dir(home))


async def test_a_key_its_community_retired_signs_nothing_there(tmp_path):
    """A key revoked in a community (here the founder retires its own) signs nothing there:
    every node would void it, so the write is refused before signing, with what to do."""
    import json

    from node.service.control import answer
    from node.service.standing import KeyRetired

    async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False) as a:
        cid = await a.create_community({"name": "Tools", "membership": {"rule": "open"}})
        other = await a.create_community({"name": "Garden", "membership": {"rule": "open"}})
        await a.publish(cid, "device.revoke", {"device": a.public_key})
        heights = a.store.heights(cid)
        with pytest.raises(KeyRetired) as err:
            await a.publish(cid, "profile.set", {"display_name": "Ann"})
        assert err.value.reason == "key_revoked" and "Tools" in str(err.value)
        assert "another device" in err.value.hint
        line = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "publish",
            "params": {
                "community": cid.hex(),
                "kind": "profile.set",
                "body": {"display_name": "A"},
            },
        }
        got = json.loads(await answer(a, json.dumps(line).encode()))["error"]
        assert got["data"]["reason"] == "key_revoked" and "we device list" in got["data"]["hint"]
        assert a.store.heights(cid) == heights  # nothing signed
        retired = a.status()["key_retired"]
        assert [(r["community"], r["state"]) for r in retired] == [(cid, "revoked")]
        await a.publish(other, "profile.set", {"display_name": "Ann"})  # elsewhere it counts


async def test_an_op_the_nodes_own_replica_voids_is_not_reported_as_published(tmp_path):
    """A write this node signs and stores but itself counts nowhere (its key forked: a copy
    of the data dir signed too) raises Voided, so no face says it was published."""
    from node.identity import Identity
    from node.service.standing import Voided

    home = tmp_path / "a"
    async with Node.open(home, insecure_plaintext=True, network=False) as a:
        cid = await a.create_community({"name": "Tools", "membership": {"rule": "open"}})
    shutil.copyfile(home / "store.db", tmp_path / "copy.db")
    key = Identity.load(home / "identity.json").signing_key
    with Store.open(tmp_path / "copy.db") as copy:  # the copy signs at seq 2 too
        twin = copy.append(key, cid, "profile.set", {"display_name": "Copy"})
    async with Node.open(home, network=False) as a:
        await a.publish(cid, "profile.set", {"display_name": "Ann"})
        a.store.ingest([twin])
        assert a.status()["own_forks"] == [{"community": cid, "seq": 2}]
        with pytest.raises(Voided) as err:
            await a.publish(cid, "profile.set", {"display_name": "Again"})
        assert err.value.reason == "void" and "author forked" in str(err.value)
        assert a.store.get_op(err.value.op.id) is not None  # stored: its place is used
