"""Circuit Relay v2 (py-libp2p's own) between real hosts on 127.0.0.1: an opt-in relay for
members only, a reservation, a relayed address that others dial, and sync over it. The NAT
topologies themselves are in tests/test_net_nat.py (network namespaces)."""

from __future__ import annotations

import pytest
import trio

from node.identity import Identity
from node.protocol.host import Host
from node.protocol.memlog import MemoryLog
from node.protocol.sync import SyncSession
from node.protocol.syncnet import drive
from node.protocol.wire import PROTOCOL_ID
from tests.factory import history

C, OPS = history(3, 300, seed=5)


def make_host(i: int, **kw) -> Host:
    return Host(Identity.from_seed(bytes([110 + i]) * 32).libp2p_keypair(), **kw)


async def test_a_member_reserves_a_relay_slot_and_syncs_through_it():
    dst, src = make_host(1), make_host(2)
    members = {dst.peer_id, src.peer_id}
    relay = make_host(0, relay_service=True, relay_allow=members.__contains__)
    stranger = make_host(3)
    held, got = MemoryLog(), MemoryLog()
    held.add(OPS)
    async with relay.run() as r, dst.run() as d, src.run() as s, stranger.run() as x:

        async def serve(stream, peer):
            await drive(stream, SyncSession(held, peer=peer.encode()))

        d.set_handler(PROTOCOL_ID, serve)
        relayed = await d.reach.reserve(r.listen_addrs[0])
        assert relayed == f"{r.listen_addrs[0]}/p2p-circuit/p2p/{d.peer_id}"
        assert relayed in d.listen_addrs  # announced: join lines carry it

        assert await s.connect(relayed) == d.peer_id
        assert not s.reach.direct(d.peer_id)  # only the relayed connection so far
        session = SyncSession(got, community=C, batch_ops=64)
        await drive(await s.open_stream(d.peer_id, PROTOCOL_ID), session)
        assert got.all_ids(C) == held.all_ids(C)

        # a stranger (not a member) gets neither a slot nor a circuit
        assert await _reserve_or_none(x, r.listen_addrs[0]) is None
        with pytest.raises((ConnectionError, trio.TooSlowError)):
            await x.connect(relayed, timeout=5)
        assert r.reach.refused.get(x.peer_id, 0) >= 2
        assert x.peer_id not in d.connected_peers()


async def test_a_host_serves_no_relay_unless_asked():
    async with make_host(0).run() as plain, make_host(1).run() as d:
        assert await _reserve_or_none(d, plain.listen_addrs[0]) is None
        assert d.listen_addrs == [a for a in d.listen_addrs if "/p2p-circuit" not in a]


async def _reserve_or_none(host: Host, relay_addr: str) -> str | None:
    try:
        with trio.fail_after(10):
            return await host.reach.reserve(relay_addr)
    except Exception:
        return None


async def test_garbage_on_the_reachability_protocols_does_not_kill_the_host():
    protocols = [
        "/libp2p/circuit/relay/0.2.0/stop",
        "/libp2p/circuit/relay/0.2.0/hop",
        "/libp2p/dcutr",
        "/libp2p/autonat/1.0.0",
        "/rendezvous/1.0.0",
    ]
    victim = make_host(0, relay_service=True, relay_allow=lambda peer: True)
    async with victim.run() as v, make_host(4).run() as evil:
        await evil.connect(v.listen_addrs[0])
        for proto in protocols:
            for junk in (b"\xff\xff\xff\xff\x0f", b"\x05hello", b"\x02\x08\x63"):
                try:
                    stream = await evil.open_stream(v.peer_id, proto)
                    await stream.write(junk)
                    with trio.move_on_after(1):
                        await stream.read(100)
                    await stream.reset()
                except Exception:
                    pass
        assert await evil.ping(v.peer_id) is not None
        async with make_host(5).run() as friend:
            await friend.connect(v.listen_addrs[0])
            assert await friend.ping(v.peer_id) is not None
