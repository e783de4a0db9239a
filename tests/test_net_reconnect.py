"""Sync on every connection, a deadline for every session, a cap across identities (issue 14).

Real nodes and real py-libp2p hosts on 127.0.0.1; the hostile peers are hosts that open sync
streams and trickle bytes (never silent for the idle timeout, never finishing a frame).
"""

from __future__ import annotations

import struct

import trio

from node.identity import Identity
from node.protocol import wire
from node.protocol.host import Host
from node.service import syncing
from tests.net_helpers import nodes, op_ids, wait_until


def synced(a, b, cid) -> bool:
    """``a`` has a completed sync session with ``b`` (gossip also delivers recent ops, from
    its message cache, so op sets alone would not show that sync ran)."""
    rec = a.service.syncer.records.get(cid, {}).get(b.member_id)
    return rec is not None and rec.ok


async def _setup(ns, ops: int):
    small, large = sorted(ns, key=lambda n: n.member_id)
    cid = await small.create_community({"name": "co-op", "membership": {"rule": "open"}})
    for i in range(ops):
        await small.publish(cid, "profile.set", {"display_name": f"v{i}"})
    await large.follow(cid)
    return small, large, cid


async def test_the_larger_id_starts_sync_when_the_smaller_ones_attempts_fail(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=3600.0) as ns:
        small, large, cid = await _setup(ns, 20)
        large.service.syncer.max_sessions = 0  # every session the smaller id starts is refused
        await large.connect(small.listen_addrs[0])
        await wait_until(lambda: synced(large, small, cid))
        assert op_ids(large, cid) == op_ids(small, cid)
        assert large.service.syncer.stats["capped"] >= 1
        assert large.service.syncer.stats["connect_attempts"] >= 1


async def test_a_failed_sync_on_connect_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(syncing, "RESPONDER_GRACE", 3600.0)  # the larger id never covers
    async with nodes(tmp_path, 2, sync_interval=3600.0) as ns:
        small, large, cid = await _setup(ns, 20)
        large.service.syncer.max_sessions = 0
        await small.connect(large.listen_addrs[0])
        await wait_until(lambda: large.service.syncer.stats["capped"] >= 1)
        large.service.syncer.max_sessions = syncing.MAX_SESSIONS  # a later attempt gets in
        await wait_until(lambda: synced(small, large, cid))
        assert op_ids(large, cid) == op_ids(small, cid)
        assert small.service.syncer.stats["connect_attempts"] >= 2


async def test_one_session_on_connect_is_enough(tmp_path, monkeypatch):
    monkeypatch.setattr(syncing, "RESPONDER_GRACE", 3.0)
    async with nodes(tmp_path, 2, sync_interval=3600.0) as ns:
        small, large, cid = await _setup(ns, 5)
        await large.connect(small.listen_addrs[0])
        st = large.service.syncer.stats
        await wait_until(lambda: st["connect_skipped"] + st["connect_attempts"] >= 1)
        assert synced(small, large, cid) and synced(large, small, cid)
        assert (st["connect_skipped"], st["connect_attempts"]) == (1, 0)
        assert small.service.syncer.stats["connect_attempts"] == 1


async def _trickle(host: Host, target: str, stop: trio.Event) -> None:
    """Open a sync stream and send a frame header announcing 60,000 bytes, then one byte
    every 0.2 s: never silent long enough for the idle timeout, never a whole frame."""
    try:
        stream = await host.open_stream(target, wire.PROTOCOL_ID)
        await stream.write(struct.pack(">I", 60_000))
        while not stop.is_set():
            await stream.write(b"\xa0")
            await trio.sleep(0.2)
    except Exception:
        pass  # reset by the node: what we expect


async def test_sessions_have_a_deadline_and_a_cap_across_identities(tmp_path):
    async with nodes(tmp_path, 1, sync_interval=3600.0) as (victim,):
        syncer = victim.service.syncer
        syncer.max_sessions, syncer.session_deadline = 3, 2.0
        sybils = [Host(Identity.from_seed(bytes([90 + i]) * 32).libp2p_keypair()) for i in range(5)]
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            for h in sybils:
                await nursery.start(_serve, h)
            for h in sybils:
                await h.connect(victim.listen_addrs[0])
            peak = 0

            async def watch():
                nonlocal peak
                while True:
                    peak = max(peak, syncer.inbound_total)
                    await trio.sleep(0.01)

            nursery.start_soon(watch)
            for h in sybils:
                nursery.start_soon(_trickle, h, victim.member_id, stop)
            await wait_until(lambda: syncer.stats["capped"] >= 2)
            await wait_until(lambda: syncer.stats["deadline"] >= 3 and syncer.inbound_total == 0)
            assert peak <= 3
            assert all(victim.service.book.get(h.peer_id).score == 0 for h in sybils)
            stop.set()
            nursery.cancel_scope.cancel()


async def _serve(host: Host, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with host.run():
        task_status.started()
        await trio.sleep_forever()
