"""A catch-up cut half way over a real libp2p connection resumes where it stopped.

The sender is a py-libp2p host serving a known history; its stream dies after a fixed number
of bytes (mid-frame) and the whole connection is cut. The receiver is a real node: it keeps a
consistent prefix of every author's chain, does not blame the peer for a lost connection, and
the next sync moves exactly the ops it still lacks.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest

from node.identity import Identity
from node.protocol import wire
from node.protocol.host import Host
from node.protocol.memlog import MemoryLog
from node.protocol.sync import HOLD_OPS, SyncSession
from node.protocol.syncnet import drive
from node.store.verify import cores
from tests.factory import history, ops_in_file
from tests.net_helpers import nodes, op_ids, wait_until

C, OPS = history(4, 2000, seed=11)


class CutAfter:
    """A stream whose connection is cut once ``limit`` bytes were written (mid-write)."""

    def __init__(self, stream: Any, limit: int, cut: Any):
        self.stream, self.limit, self.cut, self.written = stream, limit, cut, 0

    async def write(self, data: bytes) -> None:
        room = self.limit - self.written
        if len(data) > room:
            await self.stream.write(data[: max(room, 0)])
            self.written = self.limit
            await self.cut()  # while the reader cancels us: Host.disconnect must finish anyway
            raise ConnectionResetError("connection cut by the test")
        await self.stream.write(data)
        self.written += len(data)

    async def read(self, n: int) -> bytes:
        return await self.stream.read(n)

    async def close(self) -> None:
        await self.stream.close()

    async def reset(self) -> None:
        await self.stream.reset()


def is_prefix_of_each_chain(got: set[bytes]) -> bool:
    """Every author's ops in ``got`` are seq 1..k of that author's chain, for some k."""
    seen: dict[bytes, int] = {}
    for op in OPS:
        if op.id in got:
            if seen.get(op.author, 0) != op.seq - 1:
                return False
            seen[op.author] = op.seq
    return sum(seen.values()) == len(got)


@asynccontextmanager
async def node_and_pusher(tmp_path, community: bytes, seed: bytes):
    """A real node following ``community`` (no sync of its own), and a bare host to push to
    it: the node is the receiver under test."""
    async with (
        nodes(tmp_path, 1, sync_interval=1000.0) as (node,),
        Host(Identity.from_seed(seed * 32).libp2p_keypair()).run() as x,
    ):
        await node.follow(community)
        yield node, x


async def sync_stream(x: Host, node: Any) -> Any:
    """A fresh connection from ``x`` to ``node`` and a sync stream on it."""
    await x.connect(node.listen_addrs[0])
    return await x.open_stream(node.member_id, wire.PROTOCOL_ID)


async def test_catch_up_cut_half_way_resumes_where_it_stopped(tmp_path):
    src = MemoryLog()
    src.add(OPS)
    total_bytes = sum(len(o.raw) for o in OPS)
    async with node_and_pusher(tmp_path, C, b"\x42") as (victim, x):
        stream = await sync_stream(x, victim)
        cut = CutAfter(stream, total_bytes * 2 // 5, lambda: x.disconnect(victim.member_id))
        first = SyncSession(src, community=C, batch_ops=100)
        try:
            await drive(cut, first)
        except Exception as exc:
            assert getattr(exc, "reason", "") == "disconnected", exc
        assert first.state == "failed"
        svc = victim.service
        await wait_until(lambda: x.peer_id not in svc.host.connected_peers())
        await wait_until(lambda: svc.syncer.inbound.get(x.peer_id, 0) == 0)  # its session ended
        got = op_ids(victim, C)
        assert 0 < len(got) < len(OPS)
        assert is_prefix_of_each_chain(got)
        assert svc.book.get(x.peer_id).score == 0  # a lost connection is nobody's fault

        stream = await sync_stream(x, victim)
        second = SyncSession(src, community=C, batch_ops=100)
        await drive(stream, second)
        assert second.state == "done"
        assert op_ids(victim, C) == src.all_ids(C)
        assert second.stats.ops_out == len(OPS) - len(got)  # nothing sent twice
        assert second.stats.ops_in == 0


async def test_a_long_catch_up_into_a_node_writes_its_rows_behind(tmp_path, behind_calls):
    """Held batches after a session's first write their op rows on the store's writer thread
    (``node/store/writer.py``): a real node catching up over libp2p ends with every op, in the
    file once the session's span commits."""
    if cores() < 2:
        pytest.skip("rows are written behind only with a second core")
    community, ops = history(4, 3 * HOLD_OPS, seed=12)
    src = MemoryLog()
    src.add(ops)
    async with node_and_pusher(tmp_path, community, b"\x43") as (node, x):
        session = SyncSession(src, community=community)
        await drive(await sync_stream(x, node), session)
        assert session.state == "done"
        await wait_until(lambda: op_ids(node, community) == src.all_ids(community))
        assert len(behind_calls) >= 2  # the held batches after the span's first
        svc = node.service
        await wait_until(lambda: svc.syncer.inbound.get(x.peer_id, 0) == 0)  # session ended
        path = node.store.path
    assert ops_in_file(path) == len(ops)  # committed, every row
