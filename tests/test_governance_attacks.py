"""Attacks on a vote, each through real signed ops and the Replica."""

from fractions import Fraction as F

from test_governance_helpers import ELECTORATE, HOUR, World, key, pub, summary

from node import governance
from node.crdt.op import sign_op


def test_double_voting_counts_once_latest_wins():
    w = World(3)
    p = w.propose()
    for _ in range(5):
        w.vote(1, p, "yes")
    w.vote(1, p, "no", ts=HOUR + 9)
    t = w.tally(p)
    assert t.outcome.count.totals == {"yes": 0, "no": 1} and t.outcome.participation == 1


def test_ballot_flood_is_bounded():
    w = World(2)
    p = w.propose()
    for _ in range(64):
        w.vote(1, p, "yes")
    assert w.status(w.vote(1, p, "no")) == "rejected:too_many_ballots"
    assert w.tally(p).outcome.count.totals == {"yes": 1, "no": 0}


def test_equivocating_voter_is_void_and_reported():
    """Two ballots at the same seq of one member (a fork) are an equivocation: the replica
    voids the author's ops from the fork seq on, so neither forked ballot counts, and the
    tally names them. Their ballot from before the fork (one op everywhere) still counts:
    one rule, applied to the state every path reads, whether or not a caller passes the
    fork set (``specs/governance.md`` §2 step 5)."""
    w = World(4)
    p = w.propose()
    w.vote(1, p, "yes")
    w.vote(3, p, "yes")  # member 3's last unambiguous choice
    seqs = []
    for who in (2, 3):
        seq, prev, lamport, deps = w.replica.next_fields(w.cid, pub(who), [p.id])
        forks = [
            sign_op(key(who), community=w.cid, seq=seq, prev=prev, deps=deps, lamport=lamport,
                    ts=HOUR + 1, kind="ballot.cast", body={"proposal": p.id, "choice": c})
            for c in ("yes", "no")
        ]  # fmt: skip
        w._ingest(forks[0])
        w._ingest(forks[1])
        assert w.outcomes[forks[1].id].status == "fork"
        seqs.append(seq)
    t = w.tally(p)
    assert t.equivocators == [pub(2), pub(3)] and pub(2) not in t.counted
    assert t.counted[pub(3)] == seqs[1] - 1
    assert t.outcome.count.totals == {"yes": 2, "no": 0}
    blind = governance.tally(w.replica.state, w.replica.causal, p.id, ELECTORATE)
    assert summary(blind) == {**summary(t), "equivocators": []}


def test_backdated_ballot_after_honest_seals_does_not_count():
    """Members 0, 1 vote yes; 2, 3 abstain; witnesses 1 and 2 seal honestly at the close.
    Member 3 then signs a "no" ballot with a backdated ts (inside the window). The honest
    seals do not cover it, so the sealed result is unchanged and still final."""
    w = World(4)
    p = w.propose()
    w.vote(0, p, "yes")
    w.vote(1, p, "yes")
    w.seal(1, p)
    w.seal(2, p)
    before = w.tally(p)
    late = w.vote(3, p, "no", ts=HOUR + 2)  # signed after the seals, claims to be on time
    assert w.status(late) == "applied"  # authentic, and its ts claim is inside the window
    after = w.tally(p)
    assert before.final and after.final and after.passed
    assert after.outcome.count.totals == before.outcome.count.totals == {"yes": 2, "no": 0}
    assert after.ignored["not_sealed"] == [pub(3)]


def test_backdating_with_one_dishonest_witness_of_three_still_fails():
    """Witness 0 colludes: it seals only after the backdated ballot, so its seal covers it.
    A ballot counts only if a MAJORITY (2 of 3) of seals covers it; the two honest seals do
    not, so it still does not count."""
    w = World(4)
    p = w.propose()
    w.vote(0, p, "yes")
    w.seal(1, p)
    w.seal(2, p)
    w.vote(3, p, "no", ts=HOUR + 2)
    w.seal(0, p)  # dishonest: sealed late, covers the backdated ballot
    t = w.tally(p)
    assert t.final and t.outcome.count.totals == {"yes": 1, "no": 0}


def test_backdating_with_a_dishonest_majority_succeeds():
    """The limit of the guarantee: if a majority of witnesses (here 2 of 3) seal only after
    the backdated ballot, their seals cover it and it counts - the system cannot tell a late
    ballot from an on-time one without an honest majority of witnesses (or a clock
    authority). Communities choose witnesses for that reason; the tally still names who
    sealed, so the seals are evidence against the colluding witnesses."""
    w = World(4)
    p = w.propose()
    w.vote(0, p, "yes")
    w.seal(2, p)  # the only honest witness
    w.vote(3, p, "no", ts=HOUR + 2)
    w.seal(0, p)
    w.seal(1, p)
    t = w.tally(p)
    assert t.final and t.outcome.count.totals == {"yes": 1, "no": 1}
    assert not t.passed  # the late "no" turned a pass into a tie


def test_non_member_and_member_admitted_after_the_cut():
    w = World(3)
    p = w.propose()
    outsider = w.do(9, "ballot.cast", {"proposal": p.id, "choice": "yes"}, ts=HOUR + 1)
    assert w.status(outsider) == "rejected:not_member"
    w.do(5, "member.join", {})  # joins after the proposal froze its cut
    late = w.vote(5, p, "yes")
    assert w.status(late) == "applied"  # a member by now, so the op itself is fine...
    t = w.tally(p)
    assert pub(5) not in t.weights and t.ignored["not_eligible"] == [pub(5)]  # ...but no vote
    assert t.outcome.count.totals == {"yes": 0, "no": 0}


def test_self_vouched_sybils_cannot_vote():
    w = World(3, charter={"membership": {"rule": "vouched", "vouches": 2, "founding": 0}})
    # In a vouched community members 1, 2 joined but nobody vouched: only the founder is in.
    w.do(0, "member.vouch", {"member": pub(1)})
    w.do(2, "member.vouch", {"member": pub(1)})  # 2 is not a member: rejected by records
    sybil_vouch = w.do(7, "member.vouch", {"member": pub(7)})
    assert w.status(sybil_vouch) == "rejected:not_member"
    w.do(7, "member.join", {})
    assert w.status(w.do(7, "member.vouch", {"member": pub(7)})) == "rejected:not_member"
    p = w.propose(witnesses=[pub(0)])  # witnesses must be members at the cut
    assert w.status(w.propose()) == "rejected:bad_witnesses"
    assert w.status(w.vote(7, p, "yes")) == "rejected:not_member"
    t = w.tally(p)
    assert set(t.weights) == {pub(0)}  # one vouch of two needed for 1; none for 2 and 7


def test_weight_inflation_after_the_cut_does_not_count():
    """Score-weighted vote: contributions confirmed before the proposal count; a
    contribution confirmed after it does not, and self-attestation is refused outright."""
    w = World(4)
    c1 = w.do(1, "contribution.record", {"action": "work", "effort_minutes": 60, "at": 0})
    w.do(2, "attestation.set", {"contribution": c1.id, "verdict": "confirm"}, deps=[c1.id])
    c3 = w.do(3, "contribution.record", {"action": "work", "effort_minutes": 6000, "at": 0})
    selfie = w.do(3, "attestation.set", {"contribution": c3.id, "verdict": "confirm"})
    assert w.status(selfie) == "rejected:own_contribution"
    p = w.propose(weights={"base": "score"})
    w.do(2, "attestation.set", {"contribution": c3.id, "verdict": "confirm"}, deps=[c3.id])
    t = w.tally(p)
    assert t.weights[pub(1)] > 0 and t.weights[pub(3)] == 0
    assert t.weights[pub(1)] == F(60)  # work of the day the proposal opens: not yet decayed
    w.vote(3, p, "yes")
    w.vote(1, p, "no")
    t = w.tally(p)
    assert not t.passed and t.outcome.count.totals["yes"] == 0


def test_delegation_cycle_carries_no_weight():
    w = World(5)
    w.do(1, "delegation.set", {"delegate": pub(2)})
    w.do(2, "delegation.set", {"delegate": pub(3)})
    w.do(3, "delegation.set", {"delegate": pub(1)})
    w.do(4, "delegation.set", {"delegate": pub(1)})
    assert w.status(w.do(0, "delegation.set", {"delegate": pub(0)})) == ("rejected:self_delegation")
    p = w.propose()
    w.vote(0, p, "no")
    t = w.tally(p)
    assert t.flow.lost == {"cycle": 4} and t.outcome.count.totals == {"yes": 0, "no": 1}
    w.vote(2, p, "yes")  # a voter inside the loop breaks it: 1 and 4 reach 2 via 1 -> 2
    t = w.tally(p)
    assert t.flow.effective[pub(2)] == 4  # 2 itself, 1 and 3 (via 1), 4 (via 1)


def test_witness_sealing_early_twice_or_not_a_witness():
    w = World(4)
    p = w.propose()
    assert w.status(w.seal(0, p, ts=2 * HOUR - 1)) == "rejected:seal_early"
    assert w.status(w.seal(3, p)) == "rejected:not_witness"
    assert w.status(w.seal(0, p)) == "applied"
    assert w.status(w.seal(0, p, ts=3 * HOUR)) == "rejected:seal_twice"
    assert not w.tally(p).final  # one honest seal of three: still provisional


def test_member_who_left_and_rejoined_is_judged_by_the_period_of_the_cut():
    """Eligibility is exact over membership periods: a member inside the cut who then leaves
    and joins again still votes on that proposal; one who had left before the cut does not,
    even after rejoining (the latest period alone would get both wrong)."""
    w = World(5)
    before = w.propose()  # cut: 3 and 4 are members
    w.do(4, "member.leave", {})
    between = w.propose()  # cut: 4 has left
    w.do(4, "member.join", {})
    w.do(3, "member.leave", {})
    w.do(3, "member.join", {})
    for p in (before, between):
        for m in (3, 4):
            assert w.status(w.vote(m, p, "yes")) == "applied"
    t = w.tally(before)
    assert {pub(3), pub(4)} <= set(t.weights) and t.outcome.count.totals["yes"] == 2
    t = w.tally(between)
    assert pub(3) in t.weights and pub(4) not in t.weights
    assert t.ignored["not_eligible"] == [pub(4)] and t.outcome.count.totals["yes"] == 1


def _score_weighted_world(contributions: int, yes: bool):
    """Members 1-3 record work that the next member confirms; a score-weighted proposal with
    an action, ballots all ``yes`` (or all ``no``), sealed by witnesses 0 and 1."""
    w = World(4)
    for i in range(contributions):
        c = w.do(
            1 + i % 3, "contribution.record", {"action": "work", "effort_minutes": 60, "at": 0}
        )
        w.do(1 + (i + 1) % 3, "attestation.set", {"contribution": c.id, "verdict": "confirm"},
             deps=[c.id])  # fmt: skip
    action = {"kind": "charter.amend", "changes": {"half_life_days": 9}}
    p = w.propose(weights={"base": "score"}, action=action)
    for m in range(4):
        w.vote(m, p, "yes" if yes else "no")
    w.seal(0, p)
    w.seal(1, p)
    return w, p


def test_an_amended_half_life_keeps_the_totals_under_the_new_rules():
    """A charter amendment that changes the score's rules (the half-life, 180 -> 9 days) keeps
    each member's counted work anew under them, in the enacting op's handler: the table read
    from the kept totals is the rule read from every row, from the day of the work to a year
    later (and both move: the work decays in 9 days now)."""
    from node.crdt.records.score import scores_and_counts
    from node.crdt.records.totals import RULES

    w, p = _score_weighted_world(6, yes=True)
    state, c = w.replica.state, w.cid
    assert state.get(RULES, c)[4] == 180
    assert w.status(w.do(1, "decision.enact", {"proposal": p.id}, ts=3 * HOUR)) == "applied"
    assert state.get(RULES, c)[4] == 9
    everything = {op.author: 2**40 for op in w.ops}  # a cut of every op: the rows' path
    tables = [scores_and_counts(state, c, None, days * 86_400_000) for days in (0, 9, 365)]
    for days, table in zip((0, 9, 365), tables, strict=True):
        assert table == scores_and_counts(state, c, everything, days * 86_400_000)
    assert tables[0][0][pub(1)] == 2 * tables[1][0][pub(1)] > 0  # one half-life: half


def _rows_read(monkeypatch):
    """Counts the contribution rows that score computations read."""
    from node.crdt.records import score

    read, real = [0], score.contribution_rows

    def counting(*args, **kw):
        for item in real(*args, **kw):
            read[0] += 1
            yield item

    monkeypatch.setattr(score, "contribution_rows", counting)
    return read


def test_enacting_a_score_weighted_proposal_again_reads_no_contribution(monkeypatch):
    """Any member may sign ``decision.enact`` for a sealed proposal as often as they like, and
    each op computes the tally as it sees it. A score-weighted tally reads every contribution
    in the proposal's cut, so each op cost every node a pass over the community's work
    (seconds at a million ops). The scores within a cut cannot change (``score.memo_key``):
    the state keeps them, and later enactments, passed or not, read no contribution."""
    for passed in (True, False):
        w, p = _score_weighted_world(60, yes=passed)
        read = _rows_read(monkeypatch)
        first = w.do(1, "decision.enact", {"proposal": p.id}, ts=3 * HOUR)
        assert w.status(first) == ("applied" if passed else "rejected:not_passed")
        assert read[0] == 60  # the first tally reads the cut's contributions once
        again = [w.do(2, "decision.enact", {"proposal": p.id}, ts=3 * HOUR) for _ in range(5)]
        reason = "already_enacted" if passed else "not_passed"
        assert {w.status(op) for op in again} == {"rejected:" + reason}
        assert read[0] == 60
        assert w.tally(p).passed == passed and read[0] == 60  # and no view reads them again
        monkeypatch.undo()


def test_a_rebuild_forgets_the_scores_it_kept():
    """The kept scores hold until a rebuild deletes rows: member 1 forks at the seq of its
    work, so from there its ops are void everywhere, and the tally after the rebuild gives it
    no weight, in a replica's memory and in a store."""
    import tempfile
    from pathlib import Path

    from test_governance_helpers import HANDLERS

    from node.store import Store

    w, p = _score_weighted_world(3, yes=True)
    work = next(op for op in w.ops if op.kind == "contribution.record" and op.author == pub(1))
    twin = sign_op(key(1), community=w.cid, seq=work.seq, prev=work.prev, deps=list(work.deps),
                   lamport=work.lamport, ts=1, kind="profile.set", body={"display_name": "x"})  # fmt: skip
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.db", HANDLERS) as store:
        store.ingest([op.raw for op in w.ops])
        for state, causal, ingest in (
            (w.replica.state, w.replica.causal, w._ingest),
            (store.state, store.causal, lambda op: store.ingest([op.raw])),
        ):
            before = governance.tally(state, causal, p.id, ELECTORATE)
            assert before.weights[pub(1)] > 0 and state.memo  # kept
            ingest(twin)
        for state, causal in ((w.replica.state, w.replica.causal), (store.state, store.causal)):
            after = governance.tally(state, causal, p.id, ELECTORATE)
            assert after.weights.get(pub(1), 0) == 0, after.weights


def test_the_kept_scores_are_bounded_and_the_used_ones_stay():
    """A state keeps at most ``MEMO_SIZE`` values, dropping the least recently used: a member
    who enacts many sealed proposals in turn wears out only what nobody asks for."""
    from node.crdt.state import MEMO_SIZE, State

    state = State()
    for i in range(MEMO_SIZE):
        state.remember(("k", i), i)
    assert state.recall(("k", 0)) == 0  # asked for: now the most recent
    state.remember(("k", MEMO_SIZE), MEMO_SIZE)
    assert len(state.memo) == MEMO_SIZE
    assert state.recall(("k", 1)) is None and state.recall(("k", 0)) == 0


def test_a_tally_in_a_store_s_batch_counts_the_work_past_its_cut_as_the_rows_do(monkeypatch):
    """A store applies a batch before it logs it, so while ``decision.enact`` tallies a
    score-weighted proposal, its rows hold ops its log does not yet: past the proposal's cut,
    a confirmation withdrawn, work retracted, new work confirmed, and ops refused for bodies
    that name no contribution (they are logged too). The scores within the cut,
    read from the kept totals with what ops past the cut touched taken back (``State.beyond``,
    which adds the batch's unwritten ops), are those read from the rows in memory."""
    import tempfile
    from pathlib import Path

    from test_governance_helpers import HANDLERS

    from node.crdt.records import score
    from node.store import Store

    w, p = _score_weighted_world(6, yes=True)
    work = [op for op in w.ops if op.kind == "contribution.record"]
    w.do(2, "attestation.set", {"contribution": work[0].id, "verdict": "dispute"},
         deps=[work[0].id])  # fmt: skip
    w.do(2, "contribution.correct", {"id": work[1].id, "retract": True}, deps=[work[1].id])
    new = w.do(3, "contribution.record", {"action": "work", "effort_minutes": 600, "at": 0})
    w.do(1, "attestation.set", {"contribution": new.id, "verdict": "confirm"}, deps=[new.id])
    for junk in ({"contribution": 5, "verdict": "confirm"}, {"contribution": [new.id]}):
        assert w.status(w.do(2, "attestation.set", junk)).startswith("rejected")  # logged
    assert w.status(w.do(2, "contribution.correct", {"id": "x", "retract": True})).startswith(
        "rejected"
    )
    enact = w.do(1, "decision.enact", {"proposal": p.id}, ts=3 * HOUR)
    assert w.status(enact) == "applied"
    ((key, in_cut),) = w.replica.state.memo.items()
    assert in_cut != score.scores_and_counts(w.replica.state, w.cid, None, key[3])  # it matters
    cut_reads = []
    real = score.kept
    monkeypatch.setattr(score, "kept", lambda *a, **k: cut_reads.append(k) or real(*a, **k))
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s.db", HANDLERS) as store:
        store.ingest([op.raw for op in w.ops])  # one batch, one transaction
        assert [k for k in cut_reads if "moves" in k]  # the totals, inside the transaction
        assert store.state.memo == w.replica.state.memo
        assert sorted(store.state.items()) == sorted(w.replica.state.items())
