"""Communities, membership, vouches, leave, removal, profiles: every permission rule rejects
the forbidden op and leaves state unchanged, judged against the op's causal past."""

import pytest
from test_records_support import (
    PUB,
    World,
    compose_on,
    governance_handlers,
    offer_body,
    snapshot_state,
    view_without,
)

from node.crdt.records import charter, members, vouches
from node.crdt.records.common import MEMBER
from node.crdt.records.listings import FIELDS
from node.crdt.records.schema import check_body
from node.crdt.state import Rejected


def test_genesis_charter_is_normalized_and_founder_is_member():
    w = World({"name": "garden", "membership": {"rule": "vouched", "vouches": 2}})
    ch = charter(w.state, w.community)
    assert ch["membership"] == {"rule": "vouched", "vouches": 2, "founding": 3}
    assert ch["attestation"] == {"confirmations": 1, "max_disputes": 0}  # World's (permissive)
    assert ch["witnesses"] == [PUB[0]]
    assert [m["status"] for m in members(w.state, w.community)] == ["member"]
    w.ok(0, "offer.create", offer_body())


def test_bad_charter_rejects_genesis_and_community_stays_unknown():
    w = World({"name": "c", "half_life_days": 0})
    assert w.replica.rejections[w.genesis.id] == "bad_body"
    assert charter(w.state, w.community) is None
    w.rejected(1, "member.join", {}, "unknown_community")


def test_non_member_ops_are_rejected_except_join():
    w = World()
    w.rejected(3, "offer.create", offer_body(), "not_member")
    w.rejected(3, "profile.set", {"display_name": "x"}, "not_member")
    w.ok(3, "member.join", {})
    w.ok(3, "offer.create", offer_body())
    w.rejected(3, "member.join", {}, "already_member")


def test_schema_errors_name_the_field():
    w = World()
    w.join(1)
    for body, needle in [
        ({**offer_body(), "colour": "red"}, "unknown field 'colour'"),
        ({k: v for k, v in offer_body().items() if k != "title"}, "missing field 'title'"),
        (offer_body(action="steal"), "field 'action'"),
        (offer_body(category="Tools"), "field 'category'"),
        (offer_body(quantity={"amount": 0, "unit": "x"}), "field 'quantity'"),
    ]:
        with pytest.raises(Rejected) as exc:
            check_body("offer.create", body, FIELDS)
        assert needle in exc.value.detail and exc.value.reason == "bad_body"
        op, out = w.do(1, "offer.create", body)
        assert (out.status, out.reason) == ("rejected", "bad_body")
        assert w.state.get("offer", op.id) is None


def test_vouched_admission_counts_vouches_in_causal_past_only():
    w = World({"name": "c", "membership": {"rule": "vouched", "vouches": 1}}, governance_handlers())
    w.join(1, 2)
    w.rejected(1, "offer.create", offer_body(), "not_member")
    w.ok(0, "member.vouch", {"member": PUB[1]})
    w.ok(0, "member.vouch", {"member": PUB[2]})
    w.ok(1, "offer.create", offer_body())
    w.ok(0, "test.amend", {"membership": {"rule": "vouched", "vouches": 2}})
    assert charter(w.state, w.community)["membership"]["vouches"] == 2
    w.join(3)
    w.ok(1, "member.vouch", {"member": PUB[3]})
    w.rejected(3, "offer.create", offer_body(), "not_member")
    last = w.ok(2, "member.vouch", {"member": PUB[3]})
    # Member 3 signs from a replica that has not seen the second vouch: rejected everywhere,
    # although this replica holds the vouch.
    stale = compose_on(w, view_without(w, {last.id}), 3, "offer.create", offer_body())
    before = snapshot_state(w.replica)
    out = w.ingest(stale)
    assert (out.status, out.reason) == ("rejected", "not_member")
    assert snapshot_state(w.replica) == before
    w.ok(3, "offer.create", offer_body())
    row = w.state.get(MEMBER, w.community + PUB[3])
    assert row["since"] is not None
    assert {(v["voucher"], v["member"]) for v in vouches(w.state, w.community)} >= {
        (PUB[1], PUB[3]),
        (PUB[2], PUB[3]),
    }


def test_vouch_rules():
    w = World({"name": "c", "membership": {"rule": "vouched", "vouches": 1}})
    w.join(1, 2)
    w.rejected(1, "member.vouch", {"member": PUB[2]}, "not_member")
    w.rejected(0, "member.vouch", {"member": PUB[0]}, "self_vouch")
    w.ok(0, "member.vouch", {"member": PUB[1]})
    w.rejected(0, "member.vouch", {"member": PUB[1]}, "duplicate_vouch")
    w.rejected(0, "member.vouch", {"member": b"x"}, "bad_body")


def test_leave_ends_membership_and_open_rejoin_restores_it():
    w = World()
    w.join(1)
    w.ok(1, "member.leave", {})
    w.rejected(1, "offer.create", offer_body(), "not_member")
    w.rejected(1, "member.leave", {}, "not_member")
    w.ok(1, "member.join", {})
    w.ok(1, "offer.create", offer_body())


def test_removal_applies_to_ops_that_saw_it():
    w = World(handlers=governance_handlers())
    w.join(1)
    removal = w.ok(0, "test.remove", {"member": PUB[1]})
    # Signed without having seen the removal: valid on every node.
    concurrent = compose_on(w, view_without(w, {removal.id}), 1, "offer.create", offer_body())
    assert w.ingest(concurrent).status == "applied"
    w.rejected(1, "offer.create", offer_body(), "not_member")
    assert {m["member"]: m["status"] for m in members(w.state, w.community)}[PUB[1]] == "removed"


def test_removed_member_cannot_rejoin():
    w = World(handlers=governance_handlers())
    w.join(1)
    w.ok(1, "member.leave", {})
    w.ok(0, "test.remove", {"member": PUB[1]})
    w.rejected(1, "member.join", {}, "removed")


def test_amendment_is_validated_and_idempotent():
    w = World(handlers=governance_handlers())
    op, out = w.do(0, "test.amend", {"half_life_days": "soon"})
    assert (out.status, out.reason) == ("rejected", "bad_body")
    w.ok(0, "test.amend", {"half_life_days": 30, "score_cap": 600})
    ch = charter(w.state, w.community)
    assert (ch["half_life_days"], ch["score_cap"]) == (30, 600)


def test_profile_is_written_by_the_member_only_and_replaced_whole():
    w = World()
    w.join(1)
    w.ok(1, "profile.set", {"display_name": "Ana", "skills": ["carpentry"], "geohash": "u33dc"})
    w.ok(1, "profile.set", {"display_name": "Ana B"})
    prof = w.state.get("profile", w.community + PUB[1])
    assert prof["display_name"] == "Ana B" and "skills" not in prof
    w.rejected(1, "profile.set", {"geohash": "u33dc0a"}, "bad_body")  # 'a' not in alphabet
    w.rejected(1, "profile.set", {"geohash": "u33dc0123"}, "bad_body")  # too precise
    w.rejected(1, "profile.set", {"member": PUB[2]}, "bad_body")


@pytest.mark.parametrize("vouched", [False, True])
def test_members_in_cut_sees_every_membership_period(vouched):
    """Eligibility at a cut inside an earlier period of a member who left and joined again is
    exact: member inside each period, not between them (the latest period alone would say
    'not yet joined' for the first cut)."""
    from node.crdt.records import members_in_cut
    from node.crdt.records.common import membership_periods

    w = World({"name": "c", "membership": {"rule": "vouched", "vouches": 1}} if vouched else None)
    w.join(1)
    if vouched:
        w.ok(0, "member.vouch", {"member": PUB[1]})
    w.ok(1, "offer.create", offer_body())

    def cut_now():
        marker = w.ok(0, "profile.set", {"display_name": f"cut{len(w.ops)}"})
        return w.replica.causal.vector_clock(w.replica.causal.meta(marker.id))

    def eligible(clock):
        return PUB[1] in members_in_cut(w.state, w.replica.causal, w.community, clock)

    first = cut_now()
    w.ok(1, "member.leave", {})
    between = cut_now()
    w.ok(1, "member.join", {})
    second = cut_now()
    row = w.state.get(MEMBER, w.community + PUB[1])
    assert [p[0] for p in membership_periods(row)] == [1, 4]
    assert row["periods"][0][2] == 3  # the first period ended at the leave (seq 3)
    assert (eligible(first), eligible(between), eligible(second)) == (True, False, True)
