"""Governance through real ops and the Replica: proposals, ballots, seals, delegation, acting."""

from test_governance_helpers import HOUR, World, pub

from node.crdt.records.common import COMMUNITY, charter_in_clock


def test_provisional_then_final_with_seal_majority():
    w = World(4)
    p = w.propose()
    for i, c in [(0, "yes"), (1, "yes"), (2, "no"), (3, None)]:
        assert w.status(w.vote(i, p, c)) == "applied"
    t = w.tally(p)
    assert t.status == "provisional" and t.needed_seals == 2
    assert t.outcome.count.totals == {"yes": 2, "no": 1} and t.passed
    w.seal(0, p)
    assert not w.tally(p).final  # one of three witnesses is not a majority
    w.seal(1, p)
    t = w.tally(p)
    assert t.final and t.passed and t.seals == sorted([pub(0), pub(1)])
    assert t.outcome.participation == 4 and t.outcome.eligible == 4


def test_later_ballot_replaces_earlier():
    w = World(3)
    p = w.propose()
    w.vote(1, p, "no")
    w.vote(1, p, "yes", ts=HOUR + 5)
    t = w.tally(p)
    assert t.outcome.count.totals == {"yes": 1, "no": 0}


def test_edit_only_by_author_before_open():
    w = World(3)
    p = w.propose(threshold=[1, 2])
    other = w.do(1, "proposal.edit", {"proposal": p.id, "changes": {"title": "x"}}, deps=[p.id])
    assert w.status(other) == "rejected:not_author"
    late = w.do(0, "proposal.edit", {"proposal": p.id, "changes": {"title": "x"}}, ts=HOUR)
    assert w.status(late) == "rejected:already_open"
    ok = w.do(0, "proposal.edit", {"proposal": p.id, "changes": {"threshold": [2, 3]}}, ts=5)
    assert w.status(ok) == "applied"
    for i in range(3):
        w.vote(i, p, "yes" if i < 2 else "no")
    assert not w.tally(p).passed  # 2/3 is not more than the edited 2/3 threshold


def test_ballot_checks():
    w = World(3)
    p = w.propose()
    assert w.status(w.vote(1, p, "maybe")) == "rejected:bad_choice"
    assert w.status(w.vote(1, p, "yes", ts=HOUR - 1)) == "rejected:not_open"
    assert w.status(w.vote(1, p, "yes", ts=2 * HOUR)) == "rejected:closed"
    join = w.ops[1]  # an op of the community that is not a proposal
    ghost = w.do(1, "ballot.cast", {"proposal": join.id, "choice": "yes"}, ts=HOUR + 1)
    assert w.status(ghost) == "rejected:unknown_proposal"
    unseen = w.do(1, "ballot.cast", {"proposal": bytes(32), "choice": "yes"}, ts=HOUR + 1)
    assert w.status(unseen) == "rejected:unknown_proposal"
    for i in range(3):
        w.seal(i, p)
    plain = w.do(1, "decision.enact", {"proposal": p.id})  # nothing to enact
    assert w.status(plain) == "rejected:no_action"


def test_delegation_through_ops_topic_overrides_global_and_revoke():
    w = World(5)
    w.do(3, "delegation.set", {"delegate": pub(1)})
    w.do(4, "delegation.set", {"delegate": pub(2)})
    w.do(4, "delegation.set", {"delegate": pub(1), "topic": "garden"})
    w.do(2, "delegation.set", {"delegate": pub(1), "topic": "garden"})
    w.do(2, "delegation.revoke", {"topic": "garden"})
    p = w.propose(topic="garden")
    w.vote(1, p, "yes")
    w.vote(2, p, "no")
    t = w.tally(p)
    assert t.flow.effective == {pub(1): 3, pub(2): 1}  # 3 and 4 follow 1; 2 votes itself
    assert t.outcome.count.totals == {"yes": 3, "no": 1}


def test_delegations_are_taken_from_the_cut():
    """Delegations set, changed or revoked after the proposal froze its cut do not move
    weight for that proposal (they do for a later one)."""
    w = World(5)
    w.do(3, "delegation.set", {"delegate": pub(1)})
    w.do(2, "delegation.set", {"delegate": pub(1)})
    p = w.propose()
    w.do(2, "delegation.revoke", {})
    w.do(3, "delegation.set", {"delegate": pub(4)})
    later = w.propose()
    for prop in (p, later):
        w.vote(1, prop, "yes")
    t = w.tally(p)
    assert t.flow.effective == {pub(1): 3}  # 1, 2 and 3, as at the cut
    assert t.outcome.count.totals == {"yes": 3, "no": 0}
    t = w.tally(later)
    assert t.flow.effective == {pub(1): 1}  # 2 revoked; 3 now follows 4, who did not vote
    assert t.flow.route[pub(3)] == "no_vote" and t.flow.route[pub(2)] == "no_vote"


def test_charter_amendment_and_member_removal_act_only_after_final_pass():
    w = World(4)
    amend = w.propose(action={"kind": "charter.amend", "changes": {"half_life_days": 30}})
    remove = w.propose(action={"kind": "member.remove", "member": pub(3)})
    for i in range(3):
        w.vote(i, amend, "yes")
        w.vote(i, remove, "yes")
    early = w.do(1, "decision.enact", {"proposal": amend.id}, deps=[amend.id])
    assert w.status(early) == "rejected:not_final"
    for i in range(3):
        w.seal(i, amend)
        w.seal(i, remove)
    e1 = w.do(1, "decision.enact", {"proposal": amend.id})
    assert w.status(e1) == "applied"
    com = w.replica.state.get(COMMUNITY, w.cid)
    assert charter_in_clock(com, None)["half_life_days"] == 30
    assert w.status(w.do(2, "decision.enact", {"proposal": amend.id})) == (
        "rejected:already_enacted"
    )
    assert w.status(w.do(1, "decision.enact", {"proposal": remove.id})) == "applied"
    after = w.do(3, "delegation.set", {"delegate": pub(0)})  # member 3's chain is cut
    assert w.status(after) == "void"


def test_failed_proposal_cannot_act():
    w = World(3)
    p = w.propose(action={"kind": "member.remove", "member": pub(2)})
    w.vote(0, p, "yes")
    w.vote(1, p, "no")
    w.vote(2, p, "no")
    for i in range(3):
        w.seal(i, p)
    assert w.status(w.do(0, "decision.enact", {"proposal": p.id})) == "rejected:not_passed"


def test_proposal_schema_rejections():
    w = World(2)
    assert w.status(w.propose(method="plurality")) == "rejected:bad_body"
    assert w.status(w.propose(method="single")) == "rejected:bad_body"  # needs options
    assert w.status(w.propose(opens=5, closes=5)) == "rejected:bad_body"
    bad_amend = {"kind": "charter.amend", "changes": {"colour": "red"}}
    assert w.status(w.propose(action=bad_amend)) == "rejected:bad_body"


def test_seal_in_parts_names_heads_beyond_its_causal_past():
    """A witness may seal in parts (final: false) to name more heads than one op holds. The
    seal counts only once its final part exists; named heads count as covered."""
    w = World(4)
    p = w.propose()
    w.vote(0, p, "yes")
    w.vote(1, p, "yes")
    w.seal(1, p)
    part = w.do(2, "seal.create", {"proposal": p.id, "final": False}, ts=2 * HOUR)
    assert w.status(part) == "applied"
    assert not w.tally(p).final  # witness 2's seal is not complete yet
    done = w.seal(2, p, heads=[[pub(3), 99]])
    assert w.status(done) == "applied"
    assert w.status(w.seal(2, p)) == "rejected:seal_twice"
    t = w.tally(p)
    assert t.final and t.seals == sorted([pub(1), pub(2)])


def test_witnesses_default_to_the_charter_at_the_cut():
    w = World(4)  # charter witnesses: members 0, 1, 2
    body = {"title": "t", "method": "basic", "opens": HOUR, "closes": 2 * HOUR}
    p = w.do(3, "proposal.create", body)
    w.vote(3, p, "yes")
    assert w.status(w.seal(3, p)) == "rejected:not_witness"
    w.seal(0, p)
    w.seal(2, p)
    t = w.tally(p)
    assert t.final and t.passed and t.needed_seals == 2


def test_no_other_op_kind_changes_charter_or_membership():
    """Only decision.enact (after a final, passed vote) may amend or remove."""
    w = World(3)
    for kind, body in [
        ("charter.amend", {"changes": {"half_life_days": 1}}),
        ("member.remove", {"member": pub(2)}),
        ("community.amend", {"half_life_days": 1}),
    ]:
        assert w.status(w.do(0, kind, body)) == "rejected:unknown_kind"
    com = w.replica.state.get(COMMUNITY, w.cid)
    assert com["amendments"] == [] and charter_in_clock(com, None)["half_life_days"] == 180
