"""``we block`` holds against py-libp2p's own dialling (issue 14). py-libp2p dials when a
stream is opened to an unconnected peer and when DCUtR punches; its AutoConnector (which
dialled every peerstore peer, blocked ones too) is off. Real nodes on 127.0.0.1."""

from __future__ import annotations

import trio
from libp2p.peer.id import ID

from tests.net_helpers import nodes, wait_until


async def test_a_blocked_peer_stays_disconnected_when_libp2p_dials(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=3600.0) as (a, b):
        await a.connect(b.listen_addrs[0])
        await wait_until(lambda: b.member_id in a.service.host.connected_peers())
        await a.block(b.member_id)
        await wait_until(lambda: b.member_id not in a.service.host.connected_peers())
        host = a.service.host
        swarm = host.host.get_network()
        await swarm.auto_connector.maybe_connect()  # off: it would dial b from the peerstore
        for _ in range(3):  # what py-libp2p does for a stream to an unconnected peer
            try:
                await swarm.dial_peer(ID.from_base58(b.member_id))
            except Exception:
                pass
            await trio.sleep(0.1)
            assert b.member_id not in host.connected_peers()
        assert host.refused_dials == 3  # each one was refused before it dialled
        assert b.member_id not in a.status()["peers"]
        # b dials in: a drops it at once
        try:
            await b.connect(a.listen_addrs[0])
        except Exception:
            pass
        await wait_until(lambda: b.member_id not in host.connected_peers())
        # unblocked, the dialer takes the remembered address up again
        a.unblock(b.member_id)
        await wait_until(lambda: b.member_id in host.connected_peers())
