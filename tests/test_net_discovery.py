"""Discovery over real hosts: addresses that members announce in their profiles are dialled."""

from __future__ import annotations

from tests.net_helpers import nodes, op_ids, wait_until


async def test_an_address_announced_in_a_profile_is_dialled(tmp_path):
    async with nodes(tmp_path, 3, sync_interval=1.0) as (a, b, c):
        cid = await a.create_community({"name": "hub"})
        await c.follow(cid)
        await c.connect(a.listen_addrs[0])
        await c.publish(cid, "member.join", {})
        await c.publish(cid, "profile.set", {"display_name": "c", "addrs": c.listen_addrs[:1]})
        await wait_until(lambda: op_ids(a, cid) == op_ids(c, cid))
        await b.follow(cid)
        await b.connect(a.listen_addrs[0])  # b is told about a only
        await wait_until(lambda: op_ids(b, cid) == op_ids(a, cid))
        await wait_until(lambda: c.member_id in b.status()["peers"])  # found through c's profile
        assert c.listen_addrs[0] in {d.addr for d in b.service.book.dials.values()}
