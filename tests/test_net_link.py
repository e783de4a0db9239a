"""A catch-up over a slow, lossy link, in a network namespace this test creates: its loopback
(MTU 1500) carries 2 Mbit/s (tc tbf, queueing up to 200 ms) and drops 1 % of the packets
(iptables). Two real processes
(the serving peer and the catching-up one, ``bench/sync.py``'s ``over_link``) sync the whole
log over ``/we/sync/2.0.0`` and over ``/we/sync/2.1.0``; both bring every op, and 2.1 moves
well under the bytes of 2.0. Needs root, ``ip netns``, iptables and tc; elsewhere it is skipped."""

from __future__ import annotations

import shutil

import pytest

from bench.ingest import make_ops
from bench.natlab import unavailable
from bench.sync import over_link
from node.store import Store

pytestmark = pytest.mark.skipif(
    unavailable() is not None or not shutil.which("tc"),
    reason=str(unavailable() or "needs tc (iproute2)"),
)


def test_a_catch_up_over_a_slow_lossy_link_brings_every_op_in_fewer_bytes(tmp_path):
    ranges = make_ops(20, 100)
    with Store.open(tmp_path / "src.db", handlers={}) as src:
        for r in ranges:
            src.ingest_range(r)
    community = ranges[0][0].community_id
    shape = ("tbf", "rate", "2mbit", "burst", "32kb", "latency", "200ms")
    got = over_link(tmp_path / "src.db", community, tmp_path, shape, loss=0.01)
    assert got["link_ops"] == sum(map(len, ranges)), got  # each catch-up brought all of them
    assert got["link_compressed_wire_bytes"] < got["link_plain_wire_bytes"] / 1.5, got
