"""``we block`` holds against py-libp2p's own dialling (issue 14): its AutoConnector redials
peerstore peers while a node has fewer connections than its low watermark (always, for us),
and on loopback or a LAN it dials private addresses too. Real nodes on 127.0.0.1."""

from __future__ import annotations

import trio

from tests.net_helpers import nodes, wait_until


async def test_a_blocked_peer_stays_disconnected_when_libp2p_redials(tmp_path):
    async with nodes(tmp_path, 2, sync_interval=3600.0) as (a, b):
        await a.connect(b.listen_addrs[0])
        await wait_until(lambda: b.member_id in a.service.host.connected_peers())
        await a.block(b.member_id)
        await wait_until(lambda: b.member_id not in a.service.host.connected_peers())
        host = a.service.host
        connector = host.host.get_network().auto_connector
        for _ in range(3):  # py-libp2p's connector, its backoff after the disconnect forgotten
            connector._recent_disconnects.clear()
            connector._last_connect_attempt.clear()
            connector._failure_counts.clear()
            await connector.maybe_connect()
            await trio.sleep(0.2)
            assert b.member_id not in host.connected_peers()
        assert host.refused_dials >= 3  # it did try, and was refused before dialling
        assert b.member_id not in a.status()["peers"]
        # b dials in (its own connector, or an explicit connect): a drops it at once
        try:
            await b.connect(a.listen_addrs[0])
        except Exception:
            pass
        await wait_until(lambda: b.member_id not in host.connected_peers())
        # unblocked, the dialer takes the remembered address up again
        a.unblock(b.member_id)
        await wait_until(lambda: b.member_id in host.connected_peers())
