"""Helpers for multi-node tests: open several real nodes on 127.0.0.1 and compare them."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager

import trio

from node import Node


@asynccontextmanager
async def nodes(tmp_path, n: int, **kw):
    async with AsyncExitStack() as stack:
        out = []
        for i in range(n):
            node = await stack.enter_async_context(
                Node.open(tmp_path / f"n{i}", insecure_plaintext=True, **kw)
            )
            out.append(node)
        yield out


def snapshot(node) -> dict:
    out: dict = {}
    for name, key, value in node.store.state.items():
        out.setdefault(name, {})[key] = value
    return out


def op_ids(node, community: bytes) -> set[bytes]:
    out = set()
    for author, (seq, _) in node.store.heights(community).items():
        out |= {o.id for o in node.store.ops_from(community, author, 1, seq)}
    return out


async def wait_until(pred, timeout: float = 30.0, step: float = 0.05):
    """Poll a condition (a liveness bound, not a performance assertion)."""
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(step)


async def mesh(ns) -> None:
    """Connect every node to every other one."""
    for i, a in enumerate(ns):
        for b in ns[i + 1 :]:
            await a.connect(b.listen_addrs[0])
