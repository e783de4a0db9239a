"""Discovery over real hosts: addresses that members announce in their profiles are dialled."""

from __future__ import annotations

from tests.net_helpers import nodes, op_ids, wait_until


async def test_an_address_announced_in_a_profile_is_dialled(tmp_path):
    async with nodes(tmp_path, 3, sync_interval=1.0) as (a, b, c):
        cid = await a.create_community({"name": "hub", "membership": {"rule": "open"}})
        await c.follow(cid)
        await c.connect(a.listen_addrs[0])
        await wait_until(lambda: cid in c.store.replica.heads)  # the genesis came
        await c.publish(cid, "member.join", {})
        await c.publish(cid, "profile.set", {"display_name": "c", "addrs": c.listen_addrs[:1]})
        await wait_until(lambda: op_ids(a, cid) == op_ids(c, cid))
        await b.follow(cid)
        await b.connect(a.listen_addrs[0])  # b is told about a only
        await wait_until(lambda: op_ids(b, cid) == op_ids(a, cid))
        await wait_until(lambda: c.member_id in b.status()["peers"])  # found through c's profile
        assert c.listen_addrs[0] in {d.addr for d in b.service.book.dials.values()}


def test_redial_backs_off_doubling_to_a_cap_and_resets_on_success():
    from node.service.peers import BACKOFF_MAX, BACKOFF_MIN, PeerBook

    book = PeerBook("me")
    addr = "/ip4/127.0.0.1/tcp/1/p2p/them"
    book.add_addr(addr)
    book.add_addr("/ip4/127.0.0.1/tcp/2/p2p/me")  # our own address is never dialled
    [d] = book.due(0.0, connected=set())
    now, waits = 0.0, []
    for _ in range(10):
        book.dial_failed(d, now)
        waits.append(d.next_try - now)
        assert book.due(d.next_try - 0.01, set()) == []  # not before its time
        now = d.next_try
        assert book.due(now, set()) == [d]
    assert waits[:3] == [BACKOFF_MIN, 2 * BACKOFF_MIN, 4 * BACKOFF_MIN]
    assert max(waits) == BACKOFF_MAX and waits[-1] == BACKOFF_MAX
    assert book.due(now, connected={"them"}) == []  # connected: nothing to dial
    book.dial_ok(d)
    assert (d.failures, d.backoff, d.next_try) == (0, BACKOFF_MIN, 0.0)
    book.penalize("them", "chain_broken", now)
    assert book.due(now, set()) == []  # banned peers are not redialled
