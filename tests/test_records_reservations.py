"""Reservations: each step by the allowed party only, judged on the steps in the op's
causal past; concurrent steps merge by precedence; custody history; overlap flags."""

from test_records_support import DAY, PUB, T0, World, compose_on, offer_body, view_without

from node.crdt.records import (
    custody_history,
    reservation_conflicts,
    reservations_of,
    suggested_deps,
)


def setup(quantity=1):
    w = World()
    w.join(1, 2, 3)
    o = w.ok(1, "offer.create", offer_body(quantity={"amount": quantity, "unit": "item"}))
    return w, o


def request(w, who, offer, start=T0, end=T0 + DAY):
    return w.ok(
        who, "reservation.request", {"offer": offer.id, "window": [start, end]}, deps=[offer.id]
    )


def test_full_loan_and_custody_history():
    w, o = setup()
    r = request(w, 2, o)
    w.ok(1, "reservation.accept", {"reservation": r.id})
    w.ok(2, "reservation.handover", {"reservation": r.id})
    w.ok(1, "reservation.return", {"reservation": r.id})
    assert w.state.get("reservation", r.id)["status"] == "returned"
    hist = custody_history(w.state, o.id)
    assert [(h["event"], h["holder"]) for h in hist] == [("handover", PUB[2]), ("return", PUB[1])]
    mine = reservations_of(w.state, w.community, member=PUB[2])
    assert [x["id"] for x in mine] == [r.id]
    assert reservations_of(w.state, w.community, member=PUB[3]) == []
    assert [x["id"] for x in reservations_of(w.state, w.community, member=PUB[1])] == [r.id]
    other = w.ok(3, "offer.create", offer_body())
    request(w, 2, other)
    assert len(reservations_of(w.state, w.community, member=PUB[2])) == 2
    assert [x["id"] for x in reservations_of(w.state, w.community, offer=o.id)] == [r.id]


def test_steps_by_the_wrong_party_are_rejected():
    w, o = setup()
    w.rejected(1, "reservation.request", {"offer": o.id, "window": [T0, T0 + 1]}, "own_offer")
    w.rejected(
        2, "reservation.request", {"offer": o.id, "window": [T0, T0]}, "bad_body", deps=[o.id]
    )
    r = request(w, 2, o)
    w.rejected(2, "reservation.accept", {"reservation": r.id}, "not_allowed")
    w.rejected(3, "reservation.decline", {"reservation": r.id}, "not_allowed")
    w.rejected(3, "reservation.cancel", {"reservation": r.id}, "not_allowed")
    w.rejected(2, "reservation.handover", {"reservation": r.id}, "bad_transition")
    w.rejected(1, "reservation.return", {"reservation": r.id}, "bad_transition")
    w.ok(1, "reservation.accept", {"reservation": r.id})
    w.rejected(1, "reservation.accept", {"reservation": r.id}, "bad_transition")
    w.rejected(1, "reservation.handover", {"reservation": r.id}, "not_allowed")
    w.ok(2, "reservation.handover", {"reservation": r.id})
    w.rejected(2, "reservation.cancel", {"reservation": r.id}, "bad_transition")
    w.rejected(2, "reservation.return", {"reservation": r.id}, "not_allowed")


def test_accept_needs_active_offer():
    w, o = setup()
    r = request(w, 2, o)
    w.ok(1, "offer.status", {"id": o.id, "status": "paused"})
    w.rejected(1, "reservation.accept", {"reservation": r.id}, "offer_inactive")
    w.ok(1, "reservation.decline", {"reservation": r.id})


def test_concurrent_cancel_beats_accept_in_any_order():
    w, o = setup()
    r = request(w, 2, o)
    accept = w.op(1, "reservation.accept", {"reservation": r.id})
    cancel = compose_on(w, view_without(w, set()), 2, "reservation.cancel", {"reservation": r.id})
    assert w.ingest(accept).status == "applied"
    assert w.ingest(cancel).status == "applied"
    assert w.state.get("reservation", r.id)["status"] == "cancelled"
    # A handover signed after seeing the cancel is refused.
    w.rejected(2, "reservation.handover", {"reservation": r.id}, "bad_transition")


def test_concurrent_handover_beats_owner_cancel():
    w, o = setup()
    r = request(w, 2, o)
    w.ok(1, "reservation.accept", {"reservation": r.id})
    base = view_without(w, set())
    cancel = compose_on(w, base, 1, "reservation.cancel", {"reservation": r.id})
    hand = compose_on(w, view_without(w, set()), 2, "reservation.handover", {"reservation": r.id})
    assert w.ingest(cancel).status == "applied"
    assert w.ingest(hand).status == "applied"
    assert w.state.get("reservation", r.id)["status"] == "handed_over"


def test_overlapping_accepted_reservations_on_single_unit_offer_are_flagged():
    w, o = setup()
    a = request(w, 2, o, T0, T0 + 2 * DAY)
    b = request(w, 3, o, T0 + DAY, T0 + 3 * DAY)
    c = request(w, 3, o, T0 + 5 * DAY, T0 + 6 * DAY)
    for r in (a, b, c):
        w.ok(1, "reservation.accept", {"reservation": r.id})
    flags = reservation_conflicts(w.state, o.id)
    assert len(flags) == 1
    assert sorted(flags[0]["reservations"]) == sorted([a.id, b.id])
    assert flags[0]["yields"] == b.id  # accepted later
    w2, o2 = setup(quantity=2)
    x, y = request(w2, 2, o2), request(w2, 3, o2)
    for r in (x, y):
        w2.ok(1, "reservation.accept", {"reservation": r.id})
    assert reservation_conflicts(w2.state, o2.id) == []


def test_suggested_deps_name_the_record_and_its_latest_steps():
    w, o = setup()
    r = request(w, 2, o)
    acc = w.ok(1, "reservation.accept", {"reservation": r.id})
    deps = suggested_deps(w.state, "reservation.handover", {"reservation": r.id})
    assert deps == [r.id, acc.id]
    assert suggested_deps(w.state, "offer.update", {"id": o.id, "set": {}}) == [o.id]
    assert suggested_deps(w.state, "member.join", {}) == []
    # Written from a replica that has seen both, the handover is accepted.
    w.ok(2, "reservation.handover", {"reservation": r.id}, deps=deps)


def test_requested_quantity_is_checked_against_the_offer_in_the_ops_past():
    w, o = setup(quantity=3)
    body = {"offer": o.id, "window": [T0, T0 + DAY], "quantity": 4}
    w.rejected(2, "reservation.request", body, "quantity_exceeds_offer", deps=[o.id])
    r = w.ok(2, "reservation.request", {**body, "quantity": 3}, deps=[o.id])
    # The owner lowers the amount concurrently with a request for 2: the request is judged
    # on the amount its author had seen (3), so it is accepted on every node ...
    before_edit = view_without(w, set())
    lower = w.ok(
        1, "offer.update", {"id": o.id, "set": {"quantity": {"amount": 1, "unit": "item"}}}
    )
    concurrent = compose_on(w, before_edit, 3, "reservation.request", {**body, "quantity": 2})
    assert w.ingest(concurrent).status == "applied"
    # ... one that has seen the edit is judged on the new amount ...
    w.rejected(3, "reservation.request", {**body, "quantity": 2}, "quantity_exceeds_offer")
    # ... and the owner cannot accept more than the offer now has.
    w.rejected(1, "reservation.accept", {"reservation": r.id}, "quantity_exceeds_offer")
    w.rejected(1, "reservation.accept", {"reservation": concurrent.id}, "quantity_exceeds_offer")
    w.ok(1, "offer.update", {"id": o.id, "set": {"quantity": {"amount": 3, "unit": "item"}}})
    w.ok(1, "reservation.accept", {"reservation": r.id})
    assert [q[2] for q in w.state.get("offer", o.id)["quantities"]] == [3, 1, 3]
    assert lower.id in [q[1] for q in w.state.get("offer", o.id)["quantities"]]


def test_overcommitted_multi_unit_offer_is_flagged():
    """On an offer of 2 units, overlapping reservations are fine while at most 2 units are
    held at any instant; above that, every overlapping pair in the over-commitment is
    flagged (and a pair whose overlap never exceeds the amount is not)."""
    w, o = setup(quantity=2)

    def accepted(who, start, end, quantity=1):
        body = {"offer": o.id, "window": [start, end], "quantity": quantity}
        r = w.ok(who, "reservation.request", body, deps=[o.id])
        w.ok(1, "reservation.accept", {"reservation": r.id})
        return r

    x = accepted(2, T0, T0 + DAY)
    y = accepted(3, T0 + DAY // 2, T0 + 2 * DAY)
    assert reservation_conflicts(w.state, o.id) == []  # 2 units at most
    z = accepted(2, T0 + DAY // 4, T0 + DAY // 2 + 1)  # 3 units held at T0 + DAY / 2
    late = accepted(3, T0 + 5 * DAY, T0 + 6 * DAY, quantity=2)  # alone: fine
    pairs = {frozenset(f["reservations"]) for f in reservation_conflicts(w.state, o.id)}
    assert pairs == {frozenset(p) for p in ((x.id, y.id), (x.id, z.id), (y.id, z.id))}
    assert all(late.id not in p for p in pairs)
    flagged = {v["id"]: v["conflicts_with"] for v in reservations_of(w.state, w.community)}
    assert flagged[late.id] == [] and len(flagged[z.id]) == 2


def test_a_request_that_has_seen_the_offer_withdrawn_or_paused_is_rejected():
    w, o = setup()
    body = {"offer": o.id, "window": [T0, T0 + DAY]}
    before = view_without(w, set())
    pause = w.ok(1, "offer.status", {"id": o.id, "status": "paused"})
    assert suggested_deps(w.state, "reservation.request", body) == [o.id, pause.id]
    w.rejected(2, "reservation.request", body, "offer_inactive")
    # A request that had not seen the pause is judged on what it saw (an active offer) ...
    concurrent = compose_on(w, before, 3, "reservation.request", body)
    assert w.ingest(concurrent).status == "applied"
    # ... and the owner cannot accept it while the offer is not active.
    w.rejected(1, "reservation.accept", {"reservation": concurrent.id}, "offer_inactive")
    w.ok(1, "offer.status", {"id": o.id, "status": "active"})
    w.ok(2, "reservation.request", body)
    w.ok(1, "offer.status", {"id": o.id, "status": "withdrawn"})
    w.rejected(3, "reservation.request", body, "offer_inactive")
