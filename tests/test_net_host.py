"""The guarded libp2p host: real hosts on 127.0.0.1, including hostile ones."""

from __future__ import annotations

import cbor2
import pytest
import trio

from node.crdt.op import canonical
from node.identity import Identity
from node.protocol.gossip import Gossip, encode_batch, topic_of
from node.protocol.host import Host
from node.protocol.memlog import MemoryLog
from node.protocol.sync import SyncError, SyncSession
from node.protocol.syncnet import compressed, drive, session_on
from node.protocol.wire import PROTOCOL_ID, PROTOCOL_PLAIN, PROTOCOLS
from tests.factory import history

C, OPS = history(3, 400, seed=7)


def make_host(i: int, **kw) -> Host:
    return Host(Identity.from_seed(bytes([50 + i]) * 32).libp2p_keypair(), **kw)


async def wait_for(pred, timeout=10.0, step=0.05):
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(step)


async def test_sync_over_a_real_stream_and_ping():
    src, dst = MemoryLog(), MemoryLog()
    src.add(OPS)
    async with make_host(0).run() as a, make_host(1).run() as b:

        async def serve(stream, peer):
            await drive(stream, SyncSession(src, peer=peer.encode()))

        a.set_handler(PROTOCOL_ID, serve)
        await b.connect(a.listen_addrs[0])
        assert await b.ping(a.peer_id) is not None
        stream = await b.open_stream(a.peer_id, PROTOCOL_ID)
        session = SyncSession(dst, community=C, batch_ops=64)
        await drive(stream, session)
        assert dst.all_ids(C) == src.all_ids(C)
        assert session.stats.ops_in == len(OPS)


async def test_sync_speaks_2_1_compressed_and_2_0_with_a_node_from_before():
    """The initiator offers 2.1 then 2.0: a node that serves both answers 2.1 and the ops
    travel compressed; a node from before 2.1 answers 2.0 and gets plain OPS."""
    src = MemoryLog()
    src.add(OPS)
    async with make_host(0).run() as new, make_host(1).run() as old, make_host(2).run() as b:

        async def serve(stream, peer):
            session = session_on(stream, src, peer=peer.encode())
            await drive(stream, session)

        for protocol in PROTOCOLS:
            new.set_handler(protocol, serve)
        old.set_handler(PROTOCOL_PLAIN, serve)
        for host, speaks_2_1 in ((new, True), (old, False)):
            await b.connect(host.listen_addrs[0])
            stream = await b.open_stream(host.peer_id, PROTOCOLS)
            assert compressed(stream) is speaks_2_1
            dst = MemoryLog()
            session = session_on(stream, dst, community=C)
            await drive(stream, session)
            assert dst.all_ids(C) == src.all_ids(C)
            st = session.stats
            assert (st.bytes_in < st.op_bytes_in / 1.5) is speaks_2_1, st


async def test_handler_errors_and_pubsub_garbage_do_not_kill_the_host():
    bad: list[tuple[str, str]] = []
    async with (
        make_host(0, on_bad_peer=lambda p, r: bad.append((p, r))).run() as victim,
        make_host(1).run() as evil,
        make_host(2).run() as friend,
    ):

        async def explode(stream, peer):
            await stream.read(10)
            raise RuntimeError("handler bug")

        victim.set_handler("/we/test/1", explode)
        await evil.connect(victim.listen_addrs[0])
        await friend.connect(victim.listen_addrs[0])
        s = await evil.open_stream(victim.peer_id, "/we/test/1")
        await s.write(b"hello")
        for proto in ("/meshsub/1.1.0", "/meshsub/1.0.0"):
            g = await evil.open_stream(victim.peer_id, proto)
            await g.write(b"\x04\xff\xff\xff\xff")  # varint length 4, then garbage protobuf
        # and garbage on the sync stream of a victim that runs a real session
        log = MemoryLog()
        log.add(OPS[:10])
        errors: list[SyncError] = []

        async def serve(stream, peer):
            try:
                await drive(stream, SyncSession(log, peer=peer.encode()))
            except SyncError as e:
                errors.append(e)
                raise

        victim.set_handler(PROTOCOL_ID, serve)
        g = await evil.open_stream(victim.peer_id, PROTOCOL_ID)
        await g.write(b"\x00\x00\x00\x04junk")
        await wait_for(lambda: len(bad) >= 2 and errors)
        assert errors[0].reason == "malformed"
        # the victim still works for honest peers
        assert await friend.ping(victim.peer_id) is not None
        stream = await friend.open_stream(victim.peer_id, PROTOCOL_ID)
        mine = MemoryLog()
        await drive(stream, SyncSession(mine, community=C))
        assert mine.all_ids(C) == log.all_ids(C)
        assert any(p == evil.peer_id for p, _ in bad)


async def test_gossip_delivers_batches_and_validator_rejects_forgeries():
    got: list = []
    bad: list = []
    async with trio.open_nursery() as nursery:
        async with (
            make_host(0).run() as a,
            make_host(1, on_bad_peer=lambda p, r: bad.append((p, r))).run() as b,
            make_host(2).run() as evil,
        ):
            ga = Gossip(a, nursery, lambda peer, ops: None)
            gb = Gossip(b, nursery, lambda peer, ops: got.extend(ops))
            await ga.join(C)
            await gb.join(C)
            await b.connect(a.listen_addrs[0])
            await evil.connect(b.listen_addrs[0])
            await evil.pubsub.subscribe(topic_of(C))
            await trio.sleep(1.5)  # mesh forms on the heartbeat
            for op in OPS[:300]:
                ga.publish(op)
            await wait_for(lambda: len(got) >= 300)
            assert [o.id for o in got] == [o.id for o in OPS[:300]]
            assert ga.published < 300 // 5  # batched, not one message per op
            forged = cbor2.loads(OPS[5].raw)
            forged["body"] = {"evil": True}
            await evil.pubsub.publish(topic_of(C), encode_batch([canonical(forged)]))
            await evil.pubsub.publish(topic_of(C), b"\xff\x00garbage")
            await wait_for(lambda: gb.rejected >= 2)
            assert len(got) == 300
            assert {p for p, _ in bad} == {evil.peer_id}
            nursery.cancel_scope.cancel()


async def test_only_noise_is_offered_never_plaintext():
    async with make_host(0).run() as a, make_host(1, insecure_plaintext=True).run() as weak:
        with pytest.raises(Exception):  # noqa: B017 - any handshake failure will do
            await weak.connect(a.listen_addrs[0], timeout=5)
        assert weak.peer_id not in a.connected_peers()


async def test_a_failed_dial_does_not_block_the_right_address():
    async with make_host(0).run() as a, make_host(1).run() as b:
        wrong = f"/ip4/127.0.0.1/tcp/9/p2p/{a.peer_id}"  # nothing listens on port 9
        with pytest.raises(BaseException):  # noqa: B017 - any dial failure will do
            await b.connect(wrong, timeout=5)
        assert await b.connect(a.listen_addrs[0]) == a.peer_id
        assert await b.ping(a.peer_id) is not None
