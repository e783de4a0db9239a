"""Fifty nodes under churn and a partition (issue 14): real nodes (SQLite store, py-libp2p
host on 127.0.0.1, every service task) in 5 OS processes of 10 nodes; ``bench/swarm.py`` runs
them.

10 writers; 20 % of the nodes crash (SIGKILL of their process, right after writing) and come
back on the same data dirs and ports; the swarm is cut in two halves (every node blocks the
other half) and both halves write; the cut heals. Every node must end with the same ops and
the same materialized state, and every op a writer's ``publish`` returned must be there.

The run fills both cores for about two minutes, so it is marked ``alone``: ``make test`` runs
it after the other tests, with the machine to itself. ``python -m bench net --only swarm``
runs the same scenario and reports its times, bytes and CPU.
"""

from __future__ import annotations

import pytest

from bench.swarm import scenario


@pytest.mark.alone
def test_fifty_nodes_converge_through_crashes_and_a_partition(tmp_path):
    # patience bounds each wait (a liveness bound on a slow machine, not a timing assertion)
    res = scenario(tmp_path, n=50, per=10, patience=400)
    assert res["nodes"] == 50 and res["processes"] == 5
    assert res["sides_apart"]  # the partition really held while both sides wrote
    assert res["killed_and_restarted"] == 10
    assert res["ops"] > 100
    assert res["lost"] == 0
    assert res["states"] == 1  # one materialized state on all 50 nodes
