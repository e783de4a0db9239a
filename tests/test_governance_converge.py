"""The tally is a function of the SET of ops: any delivery order, duplication or partition
gives the same result (and the same governance state) on every replica."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_governance_helpers import HANDLERS, HOUR, World, key, pub, summary

from node.crdt.op import sign_op
from node.crdt.replica import Replica
from node.governance.outcome import plain


def scenario():
    """A busy vote: delegations (one topic, one cycle), replaced ballots, two methods, seals
    by two of three witnesses, a backdated late ballot and, last, an equivocating voter."""
    w = World(7)
    w.do(4, "delegation.set", {"delegate": pub(1)})
    w.do(5, "delegation.set", {"delegate": pub(6), "topic": "t"})
    w.do(6, "delegation.set", {"delegate": pub(5)})
    c = w.do(2, "contribution.record", {"action": "work", "effort_minutes": 90, "at": 0})
    w.do(3, "attestation.set", {"contribution": c.id, "verdict": "confirm"}, deps=[c.id])
    p = w.propose(topic="t", quorum=[1, 2])
    q = w.propose(
        method="schulze",
        options=["a", "b", "c"],
        weights={"base": "sqrt_score"},
    )
    w.vote(0, p, "yes")
    w.vote(1, p, "no")
    w.vote(1, p, "yes", ts=HOUR + 7)
    w.vote(2, p, None)
    for i, r in enumerate([["a", "b"], ["b", "c", "a"], ["c"], ["a", "c"]]):
        w.vote(i, q, r)
    w.seal(0, p)
    w.seal(1, p)
    w.seal(0, q)
    w.vote(3, p, "no", ts=HOUR + 3)  # backdated, after the seals of p
    w.seal(2, q)
    r = w.propose(action={"kind": "member.remove", "member": pub(5)}, ts=1)
    amend = w.propose(  # weighted by score: each enactment's tally reads the scores in its cut
        action={"kind": "charter.amend", "changes": {"half_life_days": 9}},
        weights={"base": "score"},
    )
    for i in range(4):
        w.vote(i, r, "yes")
        w.vote(i, amend, "yes")
    for i in range(3):
        w.seal(i, r)
        w.seal(i, amend)
    later = w.propose(title="later")  # voted on around the removal of member 5
    w.vote(0, later, "yes")
    side = Replica(HANDLERS)  # member 5's node: never receives the enactment
    side.ingest_many(w.ops)
    w.do(0, "decision.enact", {"proposal": r.id})
    w.do(1, "decision.enact", {"proposal": amend.id})
    w.do(2, "decision.enact", {"proposal": amend.id})  # again: refused, from the kept scores
    # Member 5, removed, votes on `later` from its node, without the enactment in its past:
    # above its cutoff, so void (the removal cuts its chain), whatever the order.
    concurrent = {"proposal": later.id, "choice": "no"}
    w._ingest(side.compose(key(5), w.cid, "ballot.cast", concurrent, deps=[later.id], ts=HOUR + 1))
    w.do(5, "delegation.set", {"delegate": pub(0)})  # void too: 5 has seen its removal
    seq, prev, lamport, deps = w.replica.next_fields(w.cid, pub(6), [q.id])
    for choice in (["a"], ["b"]):  # member 6 equivocates on q: two ballots at one seq
        op = sign_op(key(6), community=w.cid, seq=seq, prev=prev, deps=deps, lamport=lamport,
                     ts=HOUR + 1, kind="ballot.cast", body={"proposal": q.id, "choice": choice})  # fmt: skip
        w._ingest(op)
    return w, [p, q, r, amend, later]


WORLD, PROPOSALS = scenario()
OPS = WORLD.ops


def gov_state(replica):
    """Governance tables, plus the records rows that decisions change."""
    tables = ("community", "member")
    return plain(
        {(t, k): v for t, k, v in replica.state.items() if t.startswith("gov.") or t in tables}
    )


REFERENCE = [summary(WORLD.tally(p)) for p in PROPOSALS]
REFERENCE_STATE = gov_state(WORLD.replica)


def test_reference_scenario_is_interesting():
    tp, tq = (WORLD.tally(p) for p in PROPOSALS[:2])
    assert tp.final and tp.passed and tp.ignored["not_sealed"] == [pub(3)]
    assert tq.final and tq.equivocators == [pub(6)]
    assert tp.flow.lost.get("cycle") and tp.flow.effective[pub(1)] == 2
    assert all(WORLD.tally(x).passed for x in PROPOSALS[2:])
    assert [WORLD.status(op) for op in WORLD.ops[-7:-2]] == [
        "applied",
        "applied",
        "rejected:already_enacted",  # the second enactment of the score-weighted amendment
        "void",  # member 5's ballot concurrent with its removal...
        "void",
    ]
    later = WORLD.tally(PROPOSALS[4])
    assert pub(5) not in later.counted and not any(pub(5) in m for m in later.ignored.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_same_tally_for_any_order_duplication_and_partition(data):
    order = data.draw(st.permutations(OPS))
    dups = data.draw(st.lists(st.sampled_from(OPS), max_size=10))
    split = data.draw(st.integers(0, len(OPS)))
    a, b = Replica(HANDLERS), Replica(HANDLERS)
    a.ingest_many(order[:split] + dups)  # two partitions that each see part of the ops...
    b.ingest_many(order[split:])
    a.ingest_many(order[split:])  # ...then heal, in any order
    b.ingest_many(list(reversed(order[:split])) + dups)
    for r in (a, b):
        assert [summary(WORLD.tally(p, replica=r)) for p in PROPOSALS] == REFERENCE
        assert gov_state(r) == REFERENCE_STATE


def mutual_removals():
    """Two removals enacted concurrently, where one rests on the other's target: E1 (remove
    member 4) counts member 3's decisive "yes", signed after E2 (remove member 3) was sealed
    but concurrently with E2. E2 cuts member 3's chain below that ballot, so E1 no longer
    passes once E2 is known: whichever arrives first, every node must end with member 3
    removed and member 4 kept."""
    w = World(6)
    r1 = w.propose(action={"kind": "member.remove", "member": pub(4)})
    r2 = w.propose(action={"kind": "member.remove", "member": pub(3)})
    for i in (1, 2, 4, 5):
        w.vote(i, r2, "yes")
    for i in range(3):
        w.seal(i, r2)
    side = Replica(HANDLERS)  # member 5's node: has the seals of r2, not what follows
    side.ingest_many(w.ops)
    e2 = side.compose(key(5), w.cid, "decision.enact", {"proposal": r2.id}, ts=2 * HOUR)
    for i in (0, 1, 3):  # 3's ballot is decisive: without it the quorum is not met
        w.vote(i, r1, "yes")
    for i in range(3):
        w.seal(i, r1, ts=3 * HOUR)
    alone = Replica(HANDLERS)
    alone.ingest_many(w.ops)
    e1 = w.do(2, "decision.enact", {"proposal": r1.id}, ts=3 * HOUR)
    w._ingest(e2)
    w.do(3, "profile.set", {"display_name": "still here?"})  # after both: void
    return w, alone, e1, e2


MUTUAL, MUTUAL_ALONE, E1, E2 = mutual_removals()


def test_mutual_removals_scenario_is_interesting():
    assert MUTUAL_ALONE.ingest(E1).status == "applied"  # without E2, E1 passes
    members = MUTUAL.replica.state.table("member")
    removed = {row["member"] for row in members.values() if row["removed"]}
    assert removed == {pub(3)}
    assert MUTUAL.status(E2) == "applied" and not MUTUAL.replica.applied(E1.id)
    assert MUTUAL.status(MUTUAL.ops[-1]) == "void"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutual_removals_same_state_for_any_order(data):
    ops = MUTUAL.ops
    order = data.draw(st.permutations(ops))
    split = data.draw(st.integers(0, len(ops)))
    r = Replica(HANDLERS)
    r.ingest_many(order[:split])
    for op in order[split:]:  # one at a time: the incremental path
        r.ingest(op)
    assert gov_state(r) == gov_state(MUTUAL.replica)
    assert plain(r.state.table("chain.cut")) == plain(MUTUAL.replica.state.table("chain.cut"))
    assert [r.applied(op.id) for op in ops] == [MUTUAL.replica.applied(op.id) for op in ops]
