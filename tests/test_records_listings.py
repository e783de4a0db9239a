"""Offers and needs: author-only edits, forward-only status, expiry, queries, matching."""

from hypothesis import given, settings
from hypothesis import strategies as st
from test_records_support import DAY, PUB, T0, World, offer_body

from node.crdt.records import needs, needs_for_offer, offers, offers_for_need
from node.crdt.records.geo import decode, geohash_distance_m
from node.crdt.records.listings import effective_status


def world():
    w = World()
    w.join(1, 2, 3)
    return w


def test_only_the_author_edits_pauses_or_withdraws():
    w = world()
    o = w.ok(1, "offer.create", offer_body())
    w.rejected(2, "offer.update", {"id": o.id, "set": {"title": "mine"}}, "not_author", deps=[o.id])
    w.rejected(2, "offer.status", {"id": o.id, "status": "withdrawn"}, "not_author", deps=[o.id])
    w.ok(1, "offer.update", {"id": o.id, "set": {"title": "big drill"}})
    assert w.state.get("offer", o.id)["fields"]["title"] == "big drill"
    w.rejected(1, "offer.update", {"id": o.id, "set": {}}, "bad_body")
    w.rejected(1, "offer.update", {"id": o.id, "set": {"owner": "x"}}, "bad_body")


def test_status_moves_forward_only_and_final_wins():
    w = world()
    n = w.ok(1, "need.create", offer_body(title="ladder", category="tools/ladder"))
    w.rejected(1, "need.status", {"id": n.id, "status": "active"}, "bad_transition")
    w.ok(1, "need.status", {"id": n.id, "status": "paused"})
    w.ok(1, "need.status", {"id": n.id, "status": "active"})
    w.ok(1, "need.status", {"id": n.id, "status": "fulfilled"})
    w.rejected(1, "need.status", {"id": n.id, "status": "active"}, "status_final")
    w.rejected(1, "need.update", {"id": n.id, "set": {"title": "x"}}, "status_final")
    w.rejected(1, "need.status", {"id": n.id, "status": "expired"}, "bad_body")


def test_expiry_is_required_capped_and_derived_at_query_time():
    w = world()
    ts = T0 + 10 * DAY
    w.rejected(
        1,
        "offer.create",
        {k: v for k, v in offer_body().items() if k != "expires"},
        "bad_body",
        ts=ts,
    )
    w.rejected(1, "offer.create", offer_body(expires=ts + 366 * DAY), "bad_expiry", ts=ts)
    w.rejected(1, "offer.create", offer_body(expires=ts), "bad_expiry", ts=ts)
    o = w.ok(1, "offer.create", offer_body(expires=ts + 365 * DAY), ts=ts)
    assert [v["id"] for v in offers(w.state, w.community, ts)] == [o.id]
    later = ts + 365 * DAY
    assert offers(w.state, w.community, later) == []
    assert offers(w.state, w.community, later, status="expired")[0]["id"] == o.id
    w.rejected(1, "offer.update", {"id": o.id, "set": {"expires": ts - 1}}, "bad_expiry", ts=ts)


def test_referenced_listing_must_be_in_causal_past():
    w = world()
    op, out = w.do(1, "offer.update", {"id": b"\x01" * 32, "set": {"title": "x"}})
    assert (out.status, out.reason) == ("rejected", "unknown_ref")


def test_query_filters_category_text_status_distance():
    w = world()
    now = T0
    a = w.ok(
        1, "offer.create", offer_body(title="Cordless drill", geohash="u33dc0", tags=["bosch"])
    )
    b = w.ok(
        2,
        "offer.create",
        offer_body(title="Hammer", category="tools/hand/hammer", geohash="u33dc9"),
    )
    c = w.ok(3, "offer.create", offer_body(title="Bike", category="transport/bike", geohash="u0vz"))
    d = w.ok(
        3,
        "offer.create",
        offer_body(title="Advice", category="tools", action="service", remote=True),
    )
    w.ok(3, "offer.status", {"id": c.id, "status": "paused"})
    ids = lambda vs: [v["id"] for v in vs]  # noqa: E731
    assert set(ids(offers(w.state, w.community, now, category="tools"))) == {a.id, b.id, d.id}
    assert ids(offers(w.state, w.community, now, category="tools/power")) == [a.id]
    assert ids(offers(w.state, w.community, now, text="BOSCH")) == [a.id]
    assert ids(offers(w.state, w.community, now, status="paused")) == [c.id]
    near = offers(w.state, w.community, now, near="u33dc0", within_m=2000)
    assert ids(near) == [a.id, b.id, d.id]  # nearest first, remote (no distance) last
    assert near[0]["distance_m"] == 0 and near[1]["distance_m"] > 0
    assert needs(w.state, w.community, now) == []
    # Distance alone filters: the far bike (u0vz, ~420 km away) is dropped by ``within_m`` but
    # listed, last and with its distance, without it.
    anyst = offers(w.state, w.community, now, status=None, near="u33dc0")
    assert ids(anyst) == [a.id, b.id, c.id, d.id] and anyst[2]["distance_m"] > 400_000
    assert c.id not in ids(
        offers(w.state, w.community, now, status=None, near="u33dc0", within_m=2000)
    )
    assert ids(
        offers(w.state, w.community, now, status=["paused", "active"], category="transport")
    ) == [c.id]
    # Needs take the same filters, and never show offers.
    n = w.ok(
        2,
        "need.create",
        offer_body(title="Ladder wanted", category="tools/ladder", geohash="u33dc1"),
    )
    w.ok(3, "need.create", offer_body(title="Seeds", category="garden/seeds"))
    assert ids(needs(w.state, w.community, now, category="tools")) == [n.id]
    assert ids(needs(w.state, w.community, now, text="ladder", near="u33dc0", within_m=2000)) == [
        n.id
    ]
    assert ids(needs(w.state, w.community, now, text="drill")) == []
    assert n.id not in ids(offers(w.state, w.community, now, status=None))


def test_geohash_decode_and_distance_are_integer_and_plausible():
    berlin, paris = decode("u33dc0"), decode("u09tvw")
    assert 52_500_000 < berlin.lat < 52_530_000 and 13_390_000 < berlin.lon < 13_420_000
    d = geohash_distance_m("u33dc0", "u09tvw")
    assert isinstance(d, int) and 860_000 < d < 900_000  # ~878 km great-circle
    assert geohash_distance_m("u33dc0", "u33dc0") == 0
    assert paris.lat > 48_000_000


def test_matching_ranks_with_reasons_and_never_commits():
    w = world()
    need = w.ok(
        1,
        "need.create",
        offer_body(title="need a drill", geohash="u33dc0", radius_m=3000, windows=[[T0, T0 + DAY]]),
    )
    exact = w.ok(2, "offer.create", offer_body(geohash="u33dc0", radius_m=1000))
    parent = w.ok(
        3,
        "offer.create",
        offer_body(
            category="tools",
            action="give",
            geohash="u33dc1",
            windows=[[T0 + DAY // 2, T0 + 2 * DAY]],
        ),
    )
    far = w.ok(3, "offer.create", offer_body(geohash="u0vz"))
    w.ok(2, "offer.create", offer_body(category="kitchen/pot"))
    w.ok(2, "offer.create", offer_body(windows=[[T0 + 5 * DAY, T0 + 6 * DAY]]))
    w.ok(1, "offer.create", offer_body())  # own offer: never matched with own need
    before = sorted(w.state.items(), key=lambda t: (t[0], t[1]))
    found = offers_for_need(w.state, need.id, T0)
    assert [m.offer for m in found] == [exact.id, parent.id]
    assert found[0].score > found[1].score
    assert "same category tools/power/drill" in found[0].reasons
    assert any("contains" in r for r in found[1].reasons)
    assert far.id not in [m.offer for m in found]
    assert [m.need for m in needs_for_offer(w.state, exact.id, T0)] == [need.id]
    assert sorted(w.state.items(), key=lambda t: (t[0], t[1])) == before
    assert offers_for_need(w.state, need.id, T0 + 200 * DAY) == []  # expired need
    assert PUB[1] not in [w.state.get("offer", m.offer)["author"] for m in found]


def test_references_to_the_wrong_kind_of_record_are_rejected():
    """A reference must name an accepted record of the expected kind: an op id of another
    kind (or of a rejected op) is refused with the kind's own reason, state unchanged."""
    w = world()
    o = w.ok(1, "offer.create", offer_body())
    n = w.ok(1, "need.create", offer_body())
    p = w.ok(1, "project.create", {"name": "p", "maintainers": []})
    bad = w.rejected(1, "offer.create", offer_body(expires=T0), "bad_expiry")
    window = [T0, T0 + DAY]
    w.rejected(2, "reservation.request", {"offer": n.id, "window": window}, "unknown_offer")
    # (an honest writer names a rejected op only on purpose: here, as an explicit dep)
    w.rejected(
        2, "reservation.request", {"offer": bad.id, "window": window}, "unknown_offer",
        deps=[bad.id],
    )  # fmt: skip
    w.rejected(1, "offer.update", {"id": n.id, "set": {"title": "x"}}, "unknown_offer")
    w.rejected(1, "need.status", {"id": o.id, "status": "paused"}, "unknown_need")
    w.rejected(1, "reservation.accept", {"reservation": o.id}, "unknown_reservation")
    work = {"action": "work", "effort_minutes": 30, "at": T0}
    w.rejected(2, "contribution.record", {**work, "project": o.id}, "unknown_project")
    c = w.ok(2, "contribution.record", {**work, "project": p.id})
    w.rejected(
        1, "attestation.set", {"contribution": p.id, "verdict": "confirm"}, "unknown_contribution"
    )
    w.ok(1, "attestation.set", {"contribution": c.id, "verdict": "confirm"})
    w.rejected(2, "reservation.request", {"offer": b"\x07" * 32, "window": window}, "unknown_ref")


CATS = ["tools", "tools/power", "tools/power/drill", "tools/hand", "kitchen", "kitchen/pot"]


@settings(max_examples=40, deadline=None)
@given(
    listings=st.lists(
        st.tuples(
            st.sampled_from(["need", "offer"]),
            st.integers(1, 3),
            st.sampled_from(CATS),
            st.sampled_from(["lend", "give", "share-use"]),
            st.sampled_from([2, 50, 100]),  # days until it expires
        ),
        max_size=14,
    ),
    changes=st.lists(
        st.tuples(
            st.sampled_from(["paused", "active", "withdrawn", "move"]),
            st.integers(0, 13),
            st.sampled_from(CATS),
        ),
        max_size=8,
    ),
    who=st.sampled_from([None, 1, 2]),
    later=st.booleans(),
)
def test_matching_through_the_category_index_is_every_pair_that_fits(
    tmp_path_factory, listings, changes, who, later
):
    """The index only narrows the candidates: the ranked result equals the brute force over
    every (need, offer) pair active at the time asked, for one listing and for all needs (or
    one member's), after listings are paused, resumed, withdrawn and moved to another
    category and expiry, at a time when some have expired: in memory and in a store (whose
    index files only active listings, by expiry, and drops them as their status moves)."""
    from node.crdt.records import HANDLERS
    from node.crdt.records.matching import pair_fit
    from node.crdt.records.views import matches
    from node.store import Store

    w = world()
    made = []
    for family, author, cat, action, days in listings:
        body = offer_body(category=cat, action=action, expires=T0 + days * DAY)
        made.append((family, author, w.ok(author, f"{family}.create", body)))
    for what, i, cat in changes:
        if made:
            family, author, op = made[i % len(made)]
            if what == "move":
                change = {"category": cat, "expires": T0 + (3 + i) * DAY}
                w.do(author, f"{family}.update", {"id": op.id, "set": change}, deps=[op.id])
            else:
                w.do(author, f"{family}.status", {"id": op.id, "status": what}, deps=[op.id])
    now = T0 + 10 * DAY if later else T0
    path = tmp_path_factory.mktemp("match") / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest([op.raw for op in w.ops])
        for state in (w.state, store.state):
            live = {
                t: [r for r in w.state.table(t).values() if effective_status(r, now) == "active"]
                for t in ("need", "offer")
            }
            every = [m for n in live["need"] for o in live["offer"] if (m := pair_fit(n, o))]
            mine = [
                m for m in every if who is None or state.get("need", m.need)["author"] == PUB[who]
            ]
            want = sorted(mine, key=lambda m: (-m.score, m.need, m.offer))[:20]
            args = {} if who is None else {"author": PUB[who]}
            got = matches(state, w.community, now, **args)
            assert [(r["need"], r["offer"], r["score"]) for r in got] == [
                (m.need, m.offer, m.score) for m in want
            ]
            for n in live["need"]:
                brute = sorted(
                    (m for m in every if m.need == n["id"]), key=lambda m: (-m.score, m.offer)
                )
                assert offers_for_need(state, n["id"], now) == brute[:20]
            for o in live["offer"]:
                brute = sorted(
                    (m for m in every if m.offer == o["id"]), key=lambda m: (-m.score, m.need)
                )
                assert needs_for_offer(state, o["id"], now) == brute[:20]
