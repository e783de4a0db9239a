"""Devices (``node/crdt/records/devices.py``, ``specs/records.md`` §3.7): a member's other keys
count as the member everywhere; a revoked key, or a removed member's keys, sign nothing that
counts from the cut on, and a revoked key admits no new device, in any arrival order."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_governance_helpers import HANDLERS, HOUR, World, key, pub
from test_records_support import DAY, offer_body

from node.crdt.records import cert_message, devices_of, member_of, offers
from node.crdt.replica import Replica
from node.governance.outcome import plain


def cert(member: int, device: int, signer: int) -> dict:
    sig = key(signer).sign(cert_message(pub(member), pub(device))).signature
    return {"member": pub(member), "by": pub(signer), "sig": sig}


def link(w, device: int, member: int, signer: int | None = None, **kw):
    return w.do(
        device, "device.link", cert(member, device, member if signer is None else signer), **kw
    )


def test_a_device_counts_as_its_member():
    w = World(3)
    ln = link(w, 11, 1)
    assert w.status(ln) == "applied"
    assert member_of(w.replica.state, w.cid, pub(11)) == pub(1)
    offer = w.do(11, "offer.create", offer_body(expires=100 * DAY))
    assert w.status(offer) == "applied"
    assert [o["author"] for o in offers(w.replica.state, w.cid, 5000)] == [pub(1)]
    # One member, however many keys: a profile is the member's (the latest wins), a vouch
    # from two of its keys counts once, a key of its own is not a candidate.
    w.do(1, "profile.set", {"display_name": "root"})
    w.do(11, "profile.set", {"display_name": "laptop"})
    assert w.replica.state.get("profile", w.cid + pub(1))["display_name"] == "laptop"
    assert w.status(w.do(11, "member.vouch", {"member": pub(1)})) == "rejected:self_vouch"
    assert w.status(w.do(2, "member.vouch", {"member": pub(11)})) == "rejected:device"
    # The device edits what it made; the member's other key is told where to do it.
    bad = w.do(1, "offer.update", {"id": offer.id, "set": {"title": "x"}}, deps=[offer.id])
    assert w.status(bad) == "rejected:other_device"
    ok = w.do(11, "offer.update", {"id": offer.id, "set": {"title": "x"}})
    assert w.status(ok) == "applied"
    # Another member reserves it; the owner accepts from its root key.
    req = w.do(2, "reservation.request", {"offer": offer.id, "window": [10, 20]}, deps=[ok.id])
    acc = w.do(1, "reservation.accept", {"reservation": req.id}, deps=[req.id])
    assert (w.status(req), w.status(acc)) == ("applied", "applied")
    # A device neither joins nor leaves on its own.
    assert w.status(w.do(11, "member.leave", {})) == "rejected:device"


def test_a_link_is_checked():
    w2 = World(3)
    body = cert(1, 12, 2)  # signed by member 2, who is not a key of member 1
    assert w2.status(w2.do(12, "device.link", body)) == "rejected:bad_signer"
    forged = {**cert(1, 13, 1), "sig": bytes(64)}
    assert w2.status(w2.do(13, "device.link", forged)) == "rejected:bad_cert"
    assert w2.status(w2.do(14, "device.link", cert(7, 14, 7))) == "rejected:not_member"
    assert w2.status(w2.do(5, "device.link", cert(5, 5, 5))) == "rejected:self_link"
    # A key that already signed here (it joined as a member) cannot become a device.
    assert w2.status(w2.do(2, "device.link", cert(1, 2, 1))) == "rejected:not_first"
    # A device certifies another (the new one's link must follow its signer's).
    assert w2.status(link(w2, 15, 1)) == "applied"
    assert w2.status(link(w2, 16, 1, signer=15)) == "applied"
    assert [d["by"] for d in devices_of(w2.replica.state, w2.cid, pub(1))] == [pub(1), pub(15)]


def scenario():
    """Member 1 uses its root, a laptop (11) and a phone (12, certified by the laptop); the
    root revokes the laptop, which meanwhile votes again and certifies a new key (13) from a
    node that never saw the revocation. Member 2's tablet (21) votes after member 2 was
    removed, without the removal in its past."""
    w = World(5)
    link(w, 11, 1)
    link(w, 12, 1, signer=11)
    link(w, 21, 2)
    p = w.propose(title="p")
    w.vote(11, p, "yes")
    w.vote(1, p, "no", ts=HOUR + 2)  # the member's later ballot, from the root: counts
    w.do(12, "delegation.set", {"delegate": pub(3)})
    w.do(12, "profile.set", {"display_name": "phone"})
    side = Replica(HANDLERS)  # the laptop's node: never sees the revocation
    side.ingest_many(w.ops)
    revoke = w.do(1, "device.revoke", {"device": pub(11)})
    late = side.compose(
        key(11), w.cid, "ballot.cast", {"proposal": p.id, "choice": "yes"}, deps=[p.id], ts=HOUR + 3
    )
    side.ingest(late)
    w._ingest(late)
    sneaky = side.compose(key(13), w.cid, "device.link", cert(1, 13, 11))
    side.ingest(sneaky)
    w._ingest(sneaky)
    r = w.propose(action={"kind": "member.remove", "member": pub(2)}, ts=1)
    for i in (0, 1, 3, 4):
        w.vote(i, r, "yes")
    for i in range(3):
        w.seal(i, p)
        w.seal(i, r)
    tablet = Replica(HANDLERS)  # member 2's tablet: never sees the enactment
    tablet.ingest_many(w.ops)
    enact = w.do(0, "decision.enact", {"proposal": r.id})
    after = tablet.compose(key(21), w.cid, "profile.set", {"display_name": "tablet"})
    w._ingest(after)
    return w, p, {"revoke": revoke, "late": late, "sneaky": sneaky, "enact": enact, "after": after}


WORLD, P, OPS = scenario()


def test_scenario_is_interesting():
    w = WORLD
    assert [w.status(OPS[k]) for k in ("revoke", "late", "sneaky", "enact", "after")] == [
        "applied",
        "void",
        "void",
        "applied",
        "void",
    ]
    t = w.tally(P)
    assert t.final and t.choices[pub(1)] == "no"  # the member's newest ballot, not the void one
    assert pub(11) not in t.counted and pub(12) not in t.counted
    state = w.replica.state
    status = {d["device"]: d["status"] for d in devices_of(state, w.cid)}
    assert status == {pub(11): "revoked", pub(12): "active", pub(21): "revoked"}
    assert state.get("profile", w.cid + pub(1))["display_name"] == "phone"
    assert state.get("profile", w.cid + pub(2)) is None


def _everything(r):
    return sorted(plain([[t, k, v] for t, k, v in r.state.items()]), key=repr)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_same_membership_and_tally_for_any_interleaving(data):
    ops = WORLD.ops
    order = data.draw(st.permutations(ops))
    split = data.draw(st.integers(0, len(ops)))
    r = Replica(HANDLERS)
    r.ingest_many(order[:split])
    for op in order[split:]:  # one at a time: the incremental path
        r.ingest(op)
    r.settle()
    assert [r.applied(op.id) for op in ops] == [WORLD.replica.applied(op.id) for op in ops]
    assert _everything(r) == _everything(WORLD.replica)
    assert plain(WORLD.tally(P, replica=r).choices) == plain(WORLD.tally(P).choices)


def recovery_scenario():
    """Member 1 (root and laptop 11) loses both; members 2 and 3 vouch that key 15 is member
    1 now, and 15 claims it. The old root, still running somewhere, signs an offer and a
    certificate for a new device without having seen the claim: void."""
    w = World(5)
    link(w, 11, 1)
    old = w.do(11, "offer.create", offer_body(expires=100 * DAY))
    p = w.propose(title="p")
    w.vote(1, p, "yes")
    w.do(2, "recovery.vouch", {"member": pub(1), "key": pub(15)})
    probe = Replica(HANDLERS)  # too early: refused (a node stores nothing then)
    probe.ingest_many(w.ops)
    early = probe.compose(key(15), w.cid, "recovery.claim", {"member": pub(1)})
    assert probe.ingest(early).reason == "few_vouches"
    w.do(3, "recovery.vouch", {"member": pub(1), "key": pub(15)})
    thief = Replica(HANDLERS)  # the old root's node: never sees the claim
    thief.ingest_many(w.ops)
    claim = w.do(15, "recovery.claim", {"member": pub(1)})
    w.vote(15, p, "no", ts=HOUR + 5)
    stale = thief.compose(key(1), w.cid, "offer.create", offer_body(title="x", expires=DAY))
    w._ingest(stale)
    sneaky = thief.compose(key(16), w.cid, "device.link", cert(1, 16, 1))
    w._ingest(sneaky)
    for i in range(3):
        w.seal(i if i != 1 else 15, p)
    return w, p, {"old": old, "claim": claim, "stale": stale, "sneaky": sneaky}


REC, REC_P, REC_OPS = recovery_scenario()


def test_recovery_moves_the_member_to_a_new_key():
    w, ops = REC, REC_OPS
    statuses = [w.status(ops[k]) for k in ("old", "claim", "stale", "sneaky")]
    assert statuses == ["applied", "applied", "void", "void"]
    state = w.replica.state
    assert member_of(state, w.cid, pub(15)) == pub(1)
    # History stays the member's: the laptop's old offer, the member's vote (now from 15).
    assert [o["author"] for o in offers(state, w.cid, 5000)] == [pub(1)]
    t = w.tally(REC_P)
    assert t.final and t.choices[pub(1)] == "no" and pub(1) in t.seals  # sealed by 15
    status = {d["device"]: d["status"] for d in devices_of(state, w.cid)}
    assert status == {pub(11): "revoked", pub(15): "active"}
    assert state.get("chain.cut", w.cid + pub(1)) is not None  # the old root signs nothing


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_recovery_is_the_same_for_any_interleaving(data):
    ops = REC.ops
    order = data.draw(st.permutations(ops))
    r = Replica(HANDLERS)
    for op in order:
        r.ingest(op)
    r.settle()
    assert [r.applied(op.id) for op in ops] == [REC.replica.applied(op.id) for op in ops]
    assert _everything(r) == _everything(REC.replica)


def test_an_honest_fork_is_outlived_by_a_new_device():
    """A restored backup signed again at seqs the root had used (a fork): the root's ops from
    the fork on are void everywhere. A new device, certified by that same root key (a
    certificate takes no seq), signs for the member, whose ballot counts again."""
    from node.crdt.op import sign_op

    w = World(4)
    p = w.propose(title="p")
    w.vote(1, p, "yes")
    seq, prev, lamport, deps = w.replica.next_fields(w.cid, pub(1), [p.id])
    for title in ("a", "b"):  # the same seq twice: the backup did not know the first
        body = offer_body(title=title, expires=100 * DAY)
        op = sign_op(
            key(1),
            community=w.cid,
            seq=seq,
            prev=prev,
            deps=deps,
            lamport=lamport,
            ts=HOUR,
            kind="offer.create",
            body=body,
        )
        w._ingest(op)
    assert (w.cid, pub(1)) in w.replica.forks
    w.replica.settle()
    link(w, 12, 1)
    ballot = w.vote(12, p, "no", ts=HOUR + 2)
    assert w.status(ballot) == "applied"
    for i in range(3):
        w.seal(i if i != 1 else 12, p)
    t = w.tally(p)
    assert t.final and t.choices[pub(1)] == "no" and pub(1) in t.seals


def test_many_keys_of_one_member_count_once():
    """One person with many keys: vouches from a member's root and device admit no more than
    one member's vouch, and two of its keys sealing make one witness's seal."""
    w = World(3, {"membership": {"rule": "vouched", "vouches": 2, "founding": 2}})
    w.do(0, "member.vouch", {"member": pub(1)})  # founding vouches: 1 and 2 are members
    w.do(0, "member.vouch", {"member": pub(2)})
    link(w, 11, 1)
    w.do(3, "member.join", {})
    w.do(1, "member.vouch", {"member": pub(3)})
    w.do(11, "member.vouch", {"member": pub(3)})  # the same member again, another key
    assert w.status(w.do(3, "profile.set", {"display_name": "c"})) == "rejected:not_member"
    w.do(2, "member.vouch", {"member": pub(3)})
    assert w.status(w.do(3, "profile.set", {"display_name": "c"})) == "applied"
    p = w.propose(title="p")
    w.vote(1, p, "yes")
    for k in (1, 11):  # witness 1 seals from both of its keys
        w.seal(k, p)
    t = w.tally(p)
    assert t.seals == [pub(1)] and not t.final  # one witness of three: no majority


def test_a_member_s_verdicts_from_two_keys_count_once_in_any_order():
    """A member confirms another's work from its root while its laptop, not having seen that,
    disputes it: the later verdict (by lamport, then key) is the member's, whichever arrives
    first. The contribution row counts it once (``contributions.tally_verdict``: an older
    verdict arriving late changes no count), so the score table (read from the rows'
    summaries) and the member's own score (read from the attestations) agree in both
    orders, and the replicas hold the same rows."""
    from node.crdt.records.views import scores

    w = World(4, {"attestation": {"confirmations": 1, "max_disputes": 0}})
    link(w, 11, 1)
    work = w.do(2, "contribution.record", {"action": "work", "effort_minutes": 60, "at": 0})
    w.do(3, "attestation.set", {"contribution": work.id, "verdict": "confirm"}, deps=[work.id])
    body = {"contribution": work.id}
    root = w.replica.compose(key(1), w.cid, "attestation.set", {**body, "verdict": "confirm"})
    laptop = w.replica.compose(key(11), w.cid, "attestation.set", {**body, "verdict": "dispute"})
    assert root.lamport == laptop.lamport  # concurrent: the keys decide which is later
    later = max((root, laptop), key=lambda op: op.author)
    seen = []
    for last_two in ((root, laptop), (laptop, root)):
        r = Replica(HANDLERS)
        r.ingest_many([*w.ops, *last_two])
        table = scores(r.state, w.cid, DAY)
        own = scores(r.state, w.cid, DAY, member=pub(2))
        assert table == (own if later is root else [])
        assert own[0]["confirmed"] == (later is root)
        seen.append(_everything(r))
    assert seen[0] == seen[1]
