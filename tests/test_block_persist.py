"""`we block` outlives a restart: the block is kept in the data dir (blocked.json), the
reopened node refuses the peer's connection, and `unblock` lets its ops in again. Real libp2p
hosts on 127.0.0.1."""

from __future__ import annotations

import pytest
import trio

from node import Node
from tests.net_helpers import wait_until

OPEN = {"name": "c", "membership": {"rule": "open"}}


async def test_a_block_is_kept_across_a_restart_and_undone_by_unblock(tmp_path):
    async with Node.open(tmp_path / "b", insecure_plaintext=True, sync_interval=1.0) as b:
        async with Node.open(tmp_path / "a", insecure_plaintext=True, sync_interval=1.0) as a:
            c = await a.create_community(OPEN)
            await b.follow(c)
            await b.connect(a.listen_addrs[0])
            await wait_until(lambda: c in b.store.communities())
            await a.block(b.member_id)
            assert a.blocked() == [b.member_id]
        assert (tmp_path / "a" / "blocked.json").exists()
        async with Node.open(tmp_path / "a", insecure_plaintext=True, sync_interval=1.0) as a:
            assert a.blocked() == [b.member_id]
            join = await b.publish(c, "member.join", {})
            try:
                await b.connect(a.listen_addrs[0])
            except Exception:
                pass  # refused at once: as good as cut after the handshake
            # a drops the connection as soon as it sees it (a blocked peer counts as banned)
            await wait_until(lambda: b.member_id not in a.service.host.connected_peers())
            assert b.member_id not in a.service.connected()
            assert a.store.get_op(join.id) is None
            assert a.unblock(b.member_id) is True and a.blocked() == []
            assert a.unblock(b.member_id) is False
            await b.connect(a.listen_addrs[0])
            await wait_until(lambda: a.store.get_op(join.id) is not None, timeout=60)
        async with Node.open(tmp_path / "a", network=False) as a:
            assert a.blocked() == []


async def test_a_damaged_block_list_stops_the_open_with_what_to_do(tmp_path):
    async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False) as a:
        await a.block("12D3KooWDeotW3hRrQuhDotkRmv8FdqBs1gWkPiz7yYsLQ5WRH2j")
    (tmp_path / "a" / "blocked.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="delete it to unblock everyone"):
        async with Node.open(tmp_path / "a", insecure_plaintext=True, network=False):
            await trio.sleep(0)
