"""Many nodes under churn and a partition (issue 14): real nodes (SQLite store, py-libp2p host
on 127.0.0.1, every service task) in several OS processes; ``bench/swarm.py`` runs them.

10 writers; 20 % of the nodes crash (SIGKILL of their process, right after writing) and come
back on the same data dirs and ports; the swarm is cut in two halves (every node blocks the
other half) and both halves write; the cut heals. Every node must end with the same ops and
the same materialized state, and every op a writer's ``publish`` returned must be there.

``make test`` runs 10 nodes in 5 processes (2 crash), the same shape as the 50 nodes in 5
processes (10 crash) of ``python -m bench net``, which also reports the times, bytes and CPU:
on 2 shared cores each node's idle tasks cost 2-4 % of a core, and 50 of them do not fit in
the 90 s ``make test`` may spend here.
"""

from __future__ import annotations

from bench.swarm import scenario


def test_a_swarm_converges_through_crashes_and_a_partition(tmp_path):
    res = scenario(tmp_path, n=10, per=2)
    assert res["sides_apart"]  # the partition really held while both sides wrote
    assert res["killed_and_restarted"] == 2
    assert res["lost"] == 0
    assert res["states"] == 1  # one materialized state on all 10 nodes
