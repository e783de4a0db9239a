"""Multi-node convergence over real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import trio

from node import Node
from tests.factory import community, key, ops_in_file
from tests.net_helpers import mesh, nodes, op_ids, snapshot, wait_until


def profile(seq: int) -> dict:
    return {"display_name": f"v{seq}"}


async def _write(node, cid, n, tag, join=True):
    if join:
        await node.publish(cid, "member.join", {})
    for i in range(n):
        await node.publish(cid, "profile.set", {"display_name": f"{tag}{i}"})
        await trio.sleep(0)


def _converged(ns, cid, expected=None) -> bool:
    ids = [op_ids(x, cid) for x in ns]
    if expected is not None and len(ids[0]) != expected:
        return False
    return all(i == ids[0] for i in ids)


async def _converge_after_concurrent_writes(tmp_path, n):
    async with nodes(tmp_path, n, sync_interval=1.0) as ns:
        cid = await ns[0].create_community({"name": "co-op", "membership": {"rule": "open"}})
        for x in ns[1:]:
            await x.follow(cid)
        await mesh(ns)
        await wait_until(lambda: _converged(ns, cid, 1))
        async with trio.open_nursery() as nursery:
            for i, x in enumerate(ns):
                nursery.start_soon(_write, x, cid, 15, f"n{i}-", i > 0)
        await wait_until(lambda: _converged(ns, cid, n * 16), timeout=60)
        snaps = [snapshot(x) for x in ns]
        assert all(s == snaps[0] for s in snaps)
        members = ns[0].query("members", community=cid.hex())
        assert sum(m["status"] == "member" for m in members) == n


async def test_two_nodes_converge(tmp_path):
    await _converge_after_concurrent_writes(tmp_path, 2)


async def test_five_nodes_converge(tmp_path):
    await _converge_after_concurrent_writes(tmp_path, 5)


async def test_partition_then_heal(tmp_path):
    async with nodes(tmp_path, 4, sync_interval=1.0) as ns:
        a, b, c, d = ns
        cid = await a.create_community({"name": "split", "membership": {"rule": "open"}})
        for x in ns[1:]:
            await x.follow(cid)
        await mesh(ns)
        await wait_until(lambda: _converged(ns, cid, 1))
        for x in (a, b):  # cut every link between {a, b} and {c, d}
            for y in (c, d):
                await x.block(y.member_id)
                await y.block(x.member_id)
        await wait_until(lambda: set(a.status()["peers"]) == {b.member_id})
        async with trio.open_nursery() as nursery:
            for i, x in enumerate(ns):
                nursery.start_soon(_write, x, cid, 10, f"p{i}-", i > 0)
        await wait_until(lambda: _converged([a, b], cid, 2 * 11) and _converged([c, d], cid, 23))
        assert op_ids(a, cid) != op_ids(c, cid)  # the sides really were apart
        for x in (a, b):
            for y in (c, d):
                x.unblock(y.member_id)
                y.unblock(x.member_id)
        await wait_until(lambda: _converged(ns, cid, 4 * 11), timeout=60)
        snaps = [snapshot(x) for x in ns]
        assert all(s == snaps[0] for s in snaps)


async def test_killed_node_restarts_and_catches_up(tmp_path):
    async with Node.open(tmp_path / "a", insecure_plaintext=True, sync_interval=1.0) as a:
        cid = await a.create_community({"name": "restart", "membership": {"rule": "open"}})
        async with Node.open(tmp_path / "b", insecure_plaintext=True, sync_interval=1.0) as b:
            await b.follow(cid)
            await b.connect(a.listen_addrs[0])
            await wait_until(lambda: cid in b.store.communities())  # the genesis arrived
            await _write(b, cid, 5, "b")
            await wait_until(lambda: _converged([a, b], cid, 7))
        # b is gone; a keeps writing
        await _write(a, cid, 20, "a", join=False)
        async with Node.open(tmp_path / "b", sync_interval=1.0) as b2:
            assert len(op_ids(b2, cid)) == 7  # what it had survived the stop
            await b2.connect(a.listen_addrs[0])
            await wait_until(lambda: _converged([a, b2], cid, 27))
            assert snapshot(a) == snapshot(b2)


async def test_late_joiner_catches_up_10000_ops(tmp_path):
    ops = community(key(6), 10_000, kind="profile.set", body=profile, name="big")
    g = ops[0]
    async with nodes(tmp_path, 2, sync_interval=5.0) as (a, late):
        outs = a.store.ingest_range(ops)
        assert {o.status for o in outs} == {"applied"}
        await a.follow(g.id)
        await late.follow(g.id)
        await late.connect(a.listen_addrs[0])
        await wait_until(lambda: len(op_ids(late, g.id)) == 10_000, timeout=90)
        assert snapshot(late) == snapshot(a)
        # the session's batches shared commits (``Store.batched``), made by its end at the
        # latest: another reader of the file sees every op
        await wait_until(lambda: ops_in_file(late.store.path) == 10_000, timeout=30)


async def test_gossip_gap_triggers_an_immediate_sync(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=1000.0) as (a, b):  # no periodic sync
        cid = await a.create_community({"name": "gaps", "membership": {"rule": "open"}})
        await b.follow(cid)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: _converged([a, b], cid, 1))
        await trio.sleep(1.5)  # gossip mesh
        for i in range(5):  # written without gossip: b cannot know about these
            a.store.append(a.identity.signing_key, cid, "profile.set", {"display_name": f"q{i}"})
        op = await a.publish(cid, "profile.set", {"display_name": "gossiped"})
        await wait_until(lambda: b.store.get_op(op.id) is not None)
        assert _converged([a, b], cid, 7)


async def test_periodic_sync_carries_what_gossip_never_saw(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=1.0) as (a, b):
        cid = await a.create_community({"name": "periodic", "membership": {"rule": "open"}})
        await b.follow(cid)
        await b.connect(a.listen_addrs[0])
        await wait_until(lambda: _converged([a, b], cid, 1))
        for i in range(5):  # stored, never gossiped: no gap on b's side, no new connection
            a.store.append(a.identity.signing_key, cid, "profile.set", {"display_name": f"s{i}"})
        await wait_until(lambda: _converged([a, b], cid, 6))
