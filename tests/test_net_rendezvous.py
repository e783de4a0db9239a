"""Found by community id (issue 14, specs/network.md): a newcomer that knows one bootstrap peer
and the community id, and no member's address, finds the members through py-libp2p's
rendezvous, served by the reachable member that serves relays."""

from __future__ import annotations

from contextlib import AsyncExitStack

from node import Node
from node.protocol.reach import namespace
from tests.net_helpers import op_ids, wait_until


async def test_a_newcomer_finds_members_by_community_id(tmp_path):
    async with AsyncExitStack() as stack:

        async def open_node(name: str, **kw) -> Node:
            return await stack.enter_async_context(
                Node.open(tmp_path / name, insecure_plaintext=True, sync_interval=2.0, **kw)
            )

        boot = await open_node("boot", relay_service=True)
        member = await open_node("member")
        newcomer = await open_node("newcomer")
        cid = await boot.create_community({"name": "tools", "membership": {"rule": "open"}})
        await member.connect(boot.listen_addrs[0])
        await member.follow(cid)
        await wait_until(lambda: cid in member.store.communities())
        await member.publish(cid, "member.join", {})
        server = boot.service.host.reach.rendezvous
        await wait_until(lambda: member.member_id in _registered(server, cid))

        await newcomer.connect(boot.listen_addrs[0])  # the only address it knows
        await newcomer.follow(cid)
        svc = newcomer.service
        await wait_until(lambda: member.member_id in svc.host.connected_peers())
        assert any(d.member_id == member.member_id for d in svc.book.dials.values())
        await wait_until(lambda: op_ids(newcomer, cid) == op_ids(member, cid))


def _registered(server, cid: bytes) -> set[str]:
    return {str(p) for p in server.registrations.get(namespace(cid), {})}
