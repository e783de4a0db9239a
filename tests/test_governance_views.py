"""Views for the control API / CLI: plain data, exact numbers as strings."""

import json

from test_governance_helpers import HOUR, World, pub

from node.governance import proposal_tally, proposals, seal_bodies
from node.service.control import to_json


def test_proposals_and_tally_views_are_plain_and_exact():
    w = World(4)
    w.do(3, "delegation.set", {"delegate": pub(1)})
    p = w.propose(method="irv", options=["a", "b", "c"], quorum=[1, 2], ts=5)
    w.vote(0, p, ["a", "b"])
    w.vote(1, p, ["b"])
    w.vote(2, p, ["c", "a"])
    rows = proposals(w.replica.state, w.cid, now_ms=HOUR + 10)
    assert [r["id"] for r in rows] == [p.id] and rows[0]["phase"] == "open"
    assert rows[0]["options"] == ["a", "b", "c"] and rows[0]["method"] == "irv"
    t = proposal_tally(w.replica.state, w.replica.causal, p.id)
    json.dumps(to_json(t))  # what the control API sends: no floats, no objects
    # IRV: a 1, b 2 (with 3's delegated weight), c 1 -> c out (last listed of the weakest);
    # a 2, b 2 -> b out (tie, last listed); b's ballot is exhausted: a wins with 2 of 2.
    assert t["status"] == "provisional" and t["winner"] == "a" and t["passed"]
    assert t["eligible"] == "4" and t["participation"] == "4" and t["delegated"] == "1"
    assert t["support"] == "1" and t["totals"] == {"a": "2", "b": "0", "c": "0"}
    rounds = t["detail"]["rounds"]
    assert rounds[0]["counts"] == {"a": "1", "b": "2", "c": "1"}
    assert [r.get("eliminated") for r in rounds] == ["c", "b", None]
    assert rounds[2]["exhausted"] == "2"
    assert {v["member"]: v["effective"] for v in t["voters"]}[pub(1)] == "2"


def test_seal_bodies_cover_heads_beyond_one_op():
    heads = {bytes([i % 256, i // 256]) * 16: i + 1 for i in range(3200)}
    bodies = seal_bodies(b"p" * 32, heads)
    assert [b["final"] for b in bodies] == [False, False, True]
    assert sum(len(b["heads"]) for b in bodies) == 3200
    w = World(4)
    p = w.propose()
    w.vote(3, p, "yes")
    w.seal(0, p)
    known = {a: h.seq for a, h in w.replica.heights(w.cid).items()}
    for body in seal_bodies(p.id, known):
        assert w.status(w.do(1, "seal.create", body, ts=2 * HOUR, deps=[p.id])) == "applied"
    t = w.tally(p)
    assert t.final and t.counted == {pub(3): t.counted[pub(3)]}
