"""Projects, contributions, attestations and the exact contribution score."""

from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from test_records_support import DAY, PUB, T0, World, compose_on, view_without

from node.crdt.records import contribution_scores, contributions_of, projects_of
from node.crdt.records.totals import ONE, ROOTS, day_weight, weighed

CHARTER = {
    "name": "c",
    "attestation": {"confirmations": 2, "max_disputes": 0},
    "half_life_days": 10,
}


def setup(charter=CHARTER):
    w = World(charter)
    w.join(1, 2, 3, 4)
    p = w.ok(1, "project.create", {"name": "garden", "maintainers": [PUB[2]]})
    return w, p


def record(w, who, project=None, minutes=60, at=T0, **kw):
    body = {"action": "work", "effort_minutes": minutes, "at": at, **kw}
    if project is not None:
        body["project"] = project.id
    return w.ok(who, "contribution.record", body, deps=[project.id] if project else ())


def attest(w, who, c, verdict="confirm"):
    return w.ok(who, "attestation.set", {"contribution": c.id, "verdict": verdict}, deps=[c.id])


def test_project_updates_by_creator_and_maintainers_only():
    w, p = setup()
    w.ok(2, "project.update", {"id": p.id, "set": {"description": "veg"}}, deps=[p.id])
    w.rejected(3, "project.update", {"id": p.id, "set": {"name": "x"}}, "not_allowed", deps=[p.id])
    w.rejected(2, "project.update", {"id": p.id, "set": {"maintainers": [PUB[3]]}}, "not_allowed")
    w.ok(1, "project.update", {"id": p.id, "set": {"maintainers": [PUB[3]]}})
    w.rejected(2, "project.update", {"id": p.id, "set": {"name": "y"}}, "not_allowed")
    w.ok(3, "project.update", {"id": p.id, "set": {"name": "allotment"}})
    (view,) = projects_of(w.state, w.community)
    assert (view["name"], view["description"], view["maintainers"]) == (
        "allotment",
        "veg",
        [PUB[3]],
    )


def test_concurrent_project_edits_merge_last_writer_wins():
    w, p = setup()
    base = view_without(w, set())
    a = compose_on(w, base, 1, "project.update", {"id": p.id, "set": {"name": "A"}})
    b = compose_on(
        w, view_without(w, set()), 2, "project.update", {"id": p.id, "set": {"name": "B"}}
    )
    for op in (b, a):
        assert w.ingest(op).status == "applied"
    winner = max((a, b), key=lambda o: o.order_key)
    assert projects_of(w.state, w.community)[0]["name"] == winner.body["set"]["name"]


def test_contribution_counts_with_enough_confirmations_and_few_disputes():
    w, p = setup()
    c = record(w, 1, p)
    w.rejected(
        1, "attestation.set", {"contribution": c.id, "verdict": "confirm"}, "own_contribution"
    )
    attest(w, 2, c)
    assert not contributions_of(w.state, w.community)[0]["counts"]
    attest(w, 3, c)
    assert contributions_of(w.state, w.community, member=PUB[1])[0]["counts"]
    attest(w, 4, c, "dispute")
    assert not contributions_of(w.state, w.community, project=p.id)[0]["counts"]
    attest(w, 4, c, "confirm")  # the latest attestation of a member counts
    view = contributions_of(w.state, w.community)[0]
    assert (view["confirmations"], view["disputes"], view["counts"]) == (3, 0, True)


def test_non_members_cannot_attest_or_record():
    w, p = setup()
    c = record(w, 1, p)
    w.rejected(
        7,
        "attestation.set",
        {"contribution": c.id, "verdict": "confirm"},
        "not_member",
        deps=[c.id],
    )
    w.rejected(
        7, "contribution.record", {"action": "work", "effort_minutes": 5, "at": T0}, "not_member"
    )


def test_contribution_schema_rules():
    w, p = setup()
    w.rejected(1, "contribution.record", {"action": "work", "at": T0}, "bad_body")
    w.rejected(
        1,
        "contribution.record",
        {"action": "work", "effort_minutes": 5, "at": w.ts + 10**9},
        "bad_body",
        ts=w.ts + 1,
    )
    w.rejected(
        1, "contribution.record", {"action": "bake", "effort_minutes": 5, "at": T0}, "bad_body"
    )
    w.rejected(
        1,
        "contribution.record",
        {"action": "work", "effort_minutes": 5, "at": T0, "project": b"\x02" * 32},
        "unknown_ref",
    )


def test_correction_by_contributor_only_resets_attestations():
    w, p = setup()
    c = record(w, 1, p)
    attest(w, 2, c)
    attest(w, 3, c)
    w.rejected(2, "contribution.correct", {"id": c.id, "set": {"effort_minutes": 1}}, "not_author")
    w.rejected(1, "contribution.correct", {"id": c.id}, "bad_body")
    w.ok(1, "contribution.correct", {"id": c.id, "set": {"effort_minutes": 90}})
    view = contributions_of(w.state, w.community)[0]
    assert (view["fields"]["effort_minutes"], view["version"], view["counts"]) == (90, 1, False)
    attest(w, 2, c)
    attest(w, 3, c)
    assert contributions_of(w.state, w.community)[0]["counts"]
    w.ok(1, "contribution.correct", {"id": c.id, "retract": True})
    assert not contributions_of(w.state, w.community)[0]["counts"]
    w.rejected(1, "contribution.correct", {"id": c.id, "set": {"effort_minutes": 5}}, "retracted")


def test_day_weights_are_exact_fixed_point():
    h = 10
    assert day_weight(0, h) == ONE and day_weight(h, h) == 2 * ONE
    assert day_weight(3 * h, h) == 8 * ONE and day_weight(3 * h + 5, h) == ROOTS[1] << 3
    assert ROOTS[1] == 6521908912666391106  # floor(2^62 * sqrt 2): pinned, machine independent
    assert weighed(60 * day_weight(7, h), 7 + h, h) == 30 * ONE  # one half-life: half, exactly
    assert weighed(60 * day_weight(0, h), 10**6 * h, h) == 0
    values = [day_weight(d, h) for d in range(0, 4 * h)]
    assert values == sorted(values) and len(set(values)) == len(values)


def test_scores_decay_cap_and_clock_cut():
    charter = {**CHARTER, "attestation": {"confirmations": 1, "max_disputes": 0}, "score_cap": 100}
    w, p = setup(charter)
    c1 = record(w, 1, p, minutes=60, at=T0)
    c2 = record(w, 2, None, minutes=600, at=T0)
    a1 = attest(w, 2, c1)
    clock_before = w.replica.causal.vector_clock(w.replica.causal.meta(a1.id))
    attest(w, 3, c2)
    now = T0 + 10 * DAY
    scores = contribution_scores(w.state, w.community, None, now)
    assert scores == {PUB[1]: Fraction(30), PUB[2]: Fraction(100)}  # 600/2 capped at 100
    cut = contribution_scores(w.state, w.community, clock_before, now)
    assert cut == {PUB[1]: Fraction(30)}  # c2's attestation is outside the cut
    assert contribution_scores(w.state, b"\x00" * 32, None, now) == {}


def test_work_of_later_days_counts_whole_and_a_past_point_leaves_it_out():
    """Work dated after ``now`` counts whole (a clock a little ahead loses nothing); a point
    of a curve of past scores (``done_by_now``) counts only the work done by then, from the
    kept totals and from the rows alike."""
    from node.crdt.records.views import scores

    charter = {**CHARTER, "attestation": {"confirmations": 1, "max_disputes": 0}}
    w, p = setup(charter)
    w.ts = T0 + 30 * DAY  # ops signed after the work
    for day in (0, 20):
        attest(w, 2, record(w, 1, p, minutes=60, at=T0 + day * DAY))
    now = T0 + 10 * DAY  # one half-life after the first work, ten days before the second
    everything = {op.author: 2**40 for op in w.ops}  # a cut of every op: the rows' path
    for clock in (None, everything):
        assert contribution_scores(w.state, w.community, clock, now) == {PUB[1]: Fraction(90)}
    ((row,),) = [scores(w.state, w.community, now, done_by_now=True)]
    assert Fraction(*row["score"]) == 30 and row["confirmed"] == 2
    (old,) = scores(w.state, w.community, now, clock=everything, done_by_now=True)
    assert old == row


def test_kept_totals_are_the_same_rows_whichever_verdict_comes_first():
    """A confirmation that makes work count and a concurrent dispute that stops it may come
    in either order: the kept totals, the latest day with work included, are the same rows."""
    from node.crdt.records.totals import DAYS, TOTALS, day_of

    charter = {**CHARTER, "attestation": {"confirmations": 1, "max_disputes": 0}}
    w, p = setup(charter)
    w.ts = T0 + 30 * DAY  # ops signed after the work
    attest(w, 2, record(w, 1, p, at=T0))
    later = record(w, 1, p, at=T0 + 10 * DAY)
    verdicts = [
        compose_on(
            w,
            view_without(w, set()),
            who,
            "attestation.set",
            {"contribution": later.id, "verdict": verdict},
        )  # fmt: skip
        for who, verdict in ((2, "confirm"), (3, "dispute"))  # neither saw the other
    ]
    kept = []
    for order in (verdicts, verdicts[::-1]):
        r = view_without(w, set())
        assert [r.ingest(op).status for op in order] == ["applied", "applied"]
        kept.append((r.state.table(TOTALS), r.state.table(DAYS)))
    assert kept[0] == kept[1]
    ((total, counted, last),) = kept[0][0].values()
    assert counted == 1 and last == day_of(T0)  # the disputed work counts in neither


def test_attestation_that_did_not_see_a_correction_attests_the_old_version():
    charter = {**CHARTER, "attestation": {"confirmations": 1, "max_disputes": 0}}
    w, p = setup(charter)
    c = record(w, 1, p)
    correction = w.op(1, "contribution.correct", {"id": c.id, "set": {"effort_minutes": 600}})
    stale = compose_on(
        w,
        view_without(w, set()),
        2,
        "attestation.set",
        {"contribution": c.id, "verdict": "confirm"},
    )
    assert w.ingest(correction).status == "applied"
    assert w.ingest(stale).status == "applied"
    view = contributions_of(w.state, w.community)[0]
    assert (view["version"], view["confirmations"], view["counts"]) == (1, 0, False)
    attest(w, 3, c)  # sees the correction
    view = contributions_of(w.state, w.community)[0]
    assert (view["confirmations"], view["counts"]) == (1, True)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40_000), st.integers(0, 400 * 10), st.integers(1, 1000))
def test_weights_match_a_high_precision_reference(day, age, half_life_days):
    """A day's weight at a later day stays within the spec's stated error of 2^(-age/H): each
    of the two weights floors its exponent to 20 bits (a factor 2^(2^-20) either way) and
    loses < 21 x 2^-62 of its fraction in truncations."""
    h = half_life_days
    with localcontext() as ctx:
        ctx.prec = 80
        exact = Decimal(2) ** (-Decimal(age) / Decimal(h))
        got = Decimal(weighed(day_weight(day, h), day + age, h)) / Decimal(ONE)
        slack = Decimal(2) ** (Decimal(1) / Decimal(2**20)) * (1 + Decimal(22) / Decimal(2**61))
        assert got <= exact * slack
        assert got >= exact / slack - Decimal(1) / Decimal(ONE)


def test_contributions_filter_by_member_and_by_project():
    w, p = setup()
    q = w.ok(2, "project.create", {"name": "kitchen", "maintainers": []})
    a = record(w, 1, p)
    b = record(w, 2, p, at=T0 + 1)
    c = record(w, 1, q, at=T0 + 2)
    d = record(w, 3, at=T0 + 3)  # no project
    ids = lambda vs: [v["id"] for v in vs]  # noqa: E731
    assert ids(contributions_of(w.state, w.community)) == [a.id, b.id, c.id, d.id]
    assert ids(contributions_of(w.state, w.community, member=PUB[1])) == [a.id, c.id]
    assert ids(contributions_of(w.state, w.community, member=PUB[1].hex())) == [a.id, c.id]
    assert ids(contributions_of(w.state, w.community, project=p.id)) == [a.id, b.id]
    assert ids(contributions_of(w.state, w.community, member=PUB[1], project=q.id)) == [c.id]
    assert contributions_of(w.state, w.community, member=PUB[4]) == []


def test_attestations_asked_of_a_member_follow_the_documented_rule():
    """specs/cli.md §9: the project's team first; else vouchers and skill holders; else
    anyone. Counted, retracted, own and already attested contributions are asked of nobody."""
    from node.crdt.records.views import attestations_asked

    w = World({"name": "c", "attestation": {"confirmations": 2, "max_disputes": 0}})
    w.join(1, 2, 3)
    w.ok(1, "profile.set", {"skills": ["carpentry"]})
    p = w.ok(1, "project.create", {"name": "Shed", "maintainers": [PUB[2]]})
    work = {"action": "work", "effort_minutes": 60, "at": T0}
    team = w.ok(3, "contribution.record", {**work, "project": p.id}, deps=[p.id])
    anyone = w.ok(3, "contribution.record", {**work, "note": "swept"})
    skilled = w.ok(3, "contribution.record", {**work, "skill": "carpentry"})

    def asked(who):
        return {c["id"]: c["why"] for c in attestations_asked(w.state, w.community, PUB[who])}

    assert asked(1) == {
        team.id: "you run its project",
        anyone.id: "any member may attest it (no project team, voucher or skill holder)",
        skilled.id: "it uses your skill carpentry",
    }
    assert set(asked(2)) == {team.id, anyone.id}
    assert set(asked(0)) == {anyone.id}
    assert asked(3) == {}  # one's own work
    w.ok(2, "attestation.set", {"contribution": team.id, "verdict": "confirm"}, deps=[team.id])
    assert set(asked(2)) == {anyone.id} and team.id in asked(1)
    w.ok(1, "attestation.set", {"contribution": team.id, "verdict": "confirm"}, deps=[team.id])
    assert team.id not in asked(0) | asked(1)  # it counts now
    w.ok(3, "contribution.correct", {"id": anyone.id, "retract": True}, deps=[anyone.id])
    assert anyone.id not in asked(0)
    assert attestations_asked(w.state, w.community, PUB[7]) == []  # not a member


def _asked_by_full_scan(state, community, me):
    """The rule of ``attestations_asked`` read over every contribution of the community (how
    it was computed before it read only what concerns the member): the oracle below."""
    from node.crdt.records.common import MEMBER, PROFILE, PROJECT, member_key
    from node.crdt.records.queries import attestations

    if state.get(MEMBER, member_key(community, me)) is None:
        return []
    done = {
        (a["contribution"], a["version"])
        for a in attestations(state, community)
        if a["attester"] == me
    }
    holders = {}
    for prof in state.rows(PROFILE):
        if prof["c"] == community:
            for sk in prof.get("skills") or []:
                holders.setdefault(sk, set()).add(prof["member"])
    out = []
    for c in contributions_of(state, community):
        who = c["contributor"]
        if c["counts"] or c["retracted"] or who == me or (c["id"], c["version"]) in done:
            continue
        project = state.get(PROJECT, c["project"]) if c["project"] else None
        runners = set() if project is None else {project["creator"], *project["maintainers"]}
        if runners - {who}:
            why = "you run its project" if me in runners else None
        else:
            row = state.get(MEMBER, member_key(community, who)) or {}
            vouchers = {v[0] for v in row.get("vouchers", [])} - {who}
            skill = c["fields"].get("skill")
            skilled = holders.get(skill, set()) - {who} if skill else set()
            if me in vouchers:
                why = "you vouched for its author"
            elif me in skilled:
                why = f"it uses your skill {skill}"
            elif not vouchers and not skilled:
                why = "any member may attest it (no project team, voucher or skill holder)"
            else:
                why = None
        if why is not None:
            out.append({**c, "why": why})
    return out


STEP = st.tuples(
    st.sampled_from(["vouch", "skills", "project", "team", "work", "correct", "attest"]),
    st.integers(1, 5),  # who
    st.integers(0, 50),  # which: a member, a project, a contribution
    st.sampled_from([None, "carpentry", "cooking"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(STEP, min_size=5, max_size=40))
def test_attestations_asked_read_from_the_member_equal_the_full_scan(tmp_path_factory, steps):
    """Whatever members vouch, list as skills, run, record, correct and attest, the inbox's
    list read from what concerns a member (project, own-work and skill steps of the
    contribution order) is the rule applied to every contribution, in memory and in a
    store (whose index files rows as they are saved)."""
    from node.crdt.records import HANDLERS
    from node.crdt.records.views import attestations_asked
    from node.store import Store

    w = World(CHARTER)
    w.join(1, 2, 3, 4, 5)
    projects, works = [], []
    for what, who, which, skill in steps:
        if what == "vouch":
            w.do(who, "member.vouch", {"member": PUB[1 + which % 5]})
        elif what == "skills":
            w.do(who, "profile.set", {"skills": [skill] if skill else []})
        elif what == "project":
            team = [PUB[1 + which % 5]] if which % 3 else []
            projects.append(w.ok(who, "project.create", {"name": "p", "maintainers": team}))
        elif what == "team" and projects:
            p = projects[which % len(projects)]
            team = [PUB[1 + which % 5]] if which % 2 else []
            w.do(who, "project.update", {"id": p.id, "set": {"maintainers": team}}, deps=[p.id])
        elif what == "work":
            p = projects[which % len(projects)] if projects and which % 3 else None
            works.append(record(w, who, p, at=T0 + which, **({"skill": skill} if skill else {})))
        elif what == "correct" and works:
            c = works[which % len(works)]
            change = {"retract": True} if which % 7 == 0 else {"set": {"skill": skill or "sewing"}}
            w.do(who, "contribution.correct", {"id": c.id, **change}, deps=[c.id])
        elif what == "attest" and works:
            c = works[which % len(works)]
            verdict = "dispute" if which % 5 == 0 else "confirm"
            w.do(who, "attestation.set", {"contribution": c.id, "verdict": verdict}, deps=[c.id])
    path = tmp_path_factory.mktemp("asked") / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest([op.raw for op in w.ops])
        for state in (w.state, store.state):
            for who in range(7):
                want = _asked_by_full_scan(state, w.community, PUB[who])
                assert attestations_asked(state, w.community, PUB[who]) == want


def test_a_records_file_of_the_previous_order_version_is_indexed_again_on_open(tmp_path):
    """``data/store_records_v6.db`` was written by the node before contributions were filed
    under their project and skill (``data/make_store_records_v6.py`` on that commit). Opened
    now, its index is built again, once: every member's inbox list equals the rule applied
    to every contribution, and a project's contributions read from its group are all of its
    contributions."""
    import shutil
    from pathlib import Path

    from node.crdt.records import HANDLERS
    from node.crdt.records.common import PROJECT
    from node.crdt.records.views import attestations_asked
    from node.store import Store

    path = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / "store_records_v6.db", path)
    for _ in range(2):  # the index built again, then a plain reopen
        with Store.open(path, HANDLERS) as store:
            (c,) = store.communities()
            kinds = set()
            for who in range(6):
                want = _asked_by_full_scan(store.state, c, PUB[who])
                assert attestations_asked(store.state, c, PUB[who]) == want
                kinds |= {a["why"].split(" ")[1] for a in want}
            assert kinds == {"run", "vouched", "uses", "member"}  # every branch of the rule
            everything = contributions_of(store.state, c)
            for project in store.state.rows(PROJECT):
                mine = [v for v in everything if v["project"] == project["id"]]
                assert mine and contributions_of(store.state, c, project=project["id"]) == mine


def test_strangers_joining_cost_an_inbox_no_index_reads(monkeypatch):
    """A stranger may send ``member.join`` with many keys: candidates nobody vouched for.
    They have no work (only admitted members record it), so the inbox reads nothing for
    them: its index reads are those of the admitted members, however many candidates wait."""
    from node.crdt.records.views import attestations_asked
    from node.crdt.state import State

    w = World({"name": "c", "membership": {"rule": "vouched", "vouches": 1, "founding": 2}})
    w.join(1, 2)  # the founder's first two vouches admit them alone
    w.ok(0, "member.vouch", {"member": PUB[1]})
    w.ok(0, "member.vouch", {"member": PUB[2]})
    record(w, 1)
    reads = []
    monkeypatch.setattr(State, "keys_in", lambda s, *a, **k: reads.append(a) or [])
    before = attestations_asked(w.state, w.community, PUB[2])
    admitted = len(reads)
    w.join(*range(3, 12))  # nine candidates nobody vouched for
    reads.clear()
    assert attestations_asked(w.state, w.community, PUB[2]) == before
    assert len(reads) == admitted


SCORE_STEP = st.tuples(
    st.sampled_from(
        ["work", "work", "correct", "retract", "confirm", "confirm", "dispute", "join"]
    ),
    st.integers(1, 5),  # who
    st.integers(0, 50),  # which contribution; the minutes and the day of the work
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(SCORE_STEP, min_size=8, max_size=40),
    st.sampled_from([0, 1, 2]),  # confirmations needed
    st.randoms(use_true_random=False),
)
def test_the_score_table_from_kept_totals_is_the_rule_over_the_rows(
    tmp_path_factory, steps, confirmations, rnd
):
    """The score table (``views.scores``) reads each member's kept totals (``totals.py``),
    which every write of a contribution row moves and every change of the rules rebuilds;
    the rule itself reads every contribution row and its attestations' rows. Whatever is
    recorded, corrected, retracted, confirmed and disputed (members changing their mind,
    attesting versions a correction replaced, members joining, which changes the
    confirmations needed while the community is small), the table and each member's own
    score are the rule's, under a per-record and a per-day bound, at days from before the
    work to long after it: in memory, in a store given the ops in order, and in one given
    them in another order (ops wait there for their parents), and all three keep the same
    totals. And the scores within a cut (what a tally weighs votes by), which a store reads
    from the summaries of what no op past the cut touched, equal those read from the rows in
    memory, at cuts drawn anywhere."""
    from node.crdt.records import HANDLERS
    from node.crdt.records.score import scores_and_counts
    from node.crdt.records.totals import DAYS, RULES, TOTALS, rules_of
    from node.crdt.records.views import scores
    from node.store import Store

    bounds = {"max_minutes": 500, "max_minutes_per_day": 300}
    attestation = {"confirmations": confirmations, "max_disputes": 1}
    w = World({**CHARTER, "attestation": attestation, "contribution": bounds})
    w.join(1)  # the others join along the way: two members need one confirmation
    works = []
    for what, who, which in steps:
        at, minutes = T0 - (which % 3) * DAY + which, 40 + 9 * which  # 3 days; 40..490
        if what == "join":
            w.do(who, "member.join", {})
        elif what == "work":
            body = {"action": "work", "effort_minutes": minutes, "at": at}
            op, out = w.do(who, "contribution.record", body)
            if out.status == "applied":
                works.append((op, who))
        elif works:
            c, by = works[-1 - which % min(3, len(works))]  # the latest few: several verdicts
            if what == "correct":
                change = {"set": {"effort_minutes": minutes, "at": at}}
                w.do(by, "contribution.correct", {"id": c.id, **change}, deps=[c.id])
            elif what == "retract":
                w.do(by, "contribution.correct", {"id": c.id, "retract": True}, deps=[c.id])
            else:
                w.do(who, "attestation.set", {"contribution": c.id, "verdict": what}, deps=[c.id])
    raws = [op.raw for op in w.ops]
    shuffled = rnd.sample(raws, len(raws))
    everything = {op.author: 2**40 for op in w.ops}  # a cut holding every op: the rows' path
    path = tmp_path_factory.mktemp("scores")
    with Store.open(path / "a.db", HANDLERS) as a, Store.open(path / "b.db", HANDLERS) as b:
        a.ingest(raws)
        b.ingest(shuffled)
        assert b.pending_count() == 0
        for now in (T0 - 5 * DAY, T0 + DAY, T0 + 30 * DAY):
            rule, counted = scores_and_counts(w.state, w.community, everything, now)
            for state in (w.state, a.state, b.state):
                table = {r["member"]: r for r in scores(state, w.community, now)}
                assert {m: Fraction(*r["score"]) for m, r in table.items()} == {
                    m: rule.get(m, 0) for m in counted
                }
                assert {m: r["confirmed"] for m, r in table.items()} == counted
                for who in PUB[1:6]:
                    (own,) = scores(state, w.community, now, member=who)
                    assert table.get(who, {**own, "score": [0, 1], "score_text": "0.00"}) == own
        for table in (RULES, TOTALS, DAYS):
            assert w.state.table(table) == a.state.table(table) == b.state.table(table)
        for state in (w.state, a.state, b.state):  # kept under today's rules: the table reads them
            assert state.get(RULES, w.community) == rules_of(state, w.community)
        now = T0 + DAY
        for op, _ in rnd.sample(works, min(3, len(works))):  # each saw all before it
            clock = w.replica.causal.vector_clock(w.replica.meta(op.id))
            want = contribution_scores(w.state, w.community, clock, now)
            assert a.state.beyond(w.community, clock) is not None  # the store's own path
            for store in (a, b):
                assert contribution_scores(store.state, w.community, clock, now) == want
