"""A ban ends and the peer is fully back: its gossip flows again (issue 14, found by the 50-node
bench). py-libp2p's pubsub blacklist, which a ban adds the peer to, has no end of its own and
drops every message the peer wrote, even one forwarded by another peer."""

from __future__ import annotations

import time

import trio
from libp2p.peer.id import ID

from tests.net_helpers import nodes, wait_until


def blacklisted(node, peer: str) -> bool:
    return node.service.host.pubsub.is_peer_blacklisted(ID.from_base58(peer))


async def test_gossip_from_a_peer_flows_again_when_its_ban_ends(tmp_path):
    # no periodic sync: after the reconnection's own sync, only gossip carries a's ops to b
    async with nodes(tmp_path, 2, sync_interval=3600.0) as (a, b):
        cid = await a.create_community({"name": "tools", "membership": {"rule": "open"}})
        await b.follow(cid)
        await b.connect(a.listen_addrs[0])  # remembered: b's dialer redials a
        await wait_until(lambda: cid in b.store.communities())

        b.service.report_bad_peer(a.member_id, "bad_signature")  # a provable offence: banned
        await wait_until(lambda: blacklisted(b, a.member_id))
        await wait_until(lambda: a.member_id not in b.service.connected())

        back = time.time()
        b.service.book.peers[a.member_id].banned_until = trio.current_time() - 1  # it ended
        await wait_until(lambda: not blacklisted(b, a.member_id))
        await wait_until(lambda: a.member_id in b.service.connected())

        def synced_since_back(x, y) -> bool:
            rec = x.service.syncer.records.get(cid, {}).get(y.member_id)
            return rec is not None and rec.ok and rec.at >= back

        # the reconnection's one sync session is over (both ends recorded it; the other side
        # then skips its own) before a writes anew: what follows travels by gossip alone
        await wait_until(lambda: synced_since_back(a, b) and synced_since_back(b, a))
        ops = []

        def arrived() -> bool:
            return any(b.store.get_op(op.id) is not None for op in ops)

        with trio.fail_after(30):  # a liveness bound; each try is one more gossiped op
            while not arrived():
                ops.append(await a.publish(cid, "profile.set", {"display_name": f"a{len(ops)}"}))
                await trio.sleep(0.5)
        assert b.service.book.peers[a.member_id].score < 0  # forgiven the ban, not the offence
