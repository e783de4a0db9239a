"""The activity feed read from the community's time lines (``we activity``, the web app's home
page): its newest ``limit`` events are the newest ``limit`` of the whole feed, whatever was
listed, reserved, stepped through, recorded and corrected, with ties in time, in memory and
in a store."""

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_records_support import DAY, T0, World, offer_body

from node.crdt.records import HANDLERS
from node.crdt.state import MAX_RANK
from node.service.control import run_query
from node.service.inbox import activity
from node.store import Store

KINDS = ["offer", "need", "request", "request", "step", "step", "work", "correct"]
STEP = st.tuples(
    st.sampled_from([*KINDS, "thread", "thread", "comment", "comment"]),
    st.integers(1, 4),  # who
    st.integers(0, 40),  # which offer / reservation / contribution / thread, a step kind
    st.integers(0, 5),  # a time, from a few: ties; 4 and 5 claim times past 2^63 ms
)
FAR = {4: 2**63 + 5, 5: 2**64 - 1}  # a signed integer cannot hold them: ranked at its end
STEPS = ["reservation.accept", "reservation.decline", "reservation.cancel"]


def _world(steps):
    w = World({"name": "c"})
    w.join(1, 2, 3, 4)
    offers, asked, works, threads = [], [], [], []
    for what, who, which, t in steps:
        ts = FAR.get(t, T0 + DAY + t * 1000)  # a claimed time: several ops share one
        if what in ("offer", "need"):
            if t in FAR:  # a listing expires within a year of its time: none this far
                continue
            op = w.ok(who, f"{what}.create", offer_body(title=f"{what} {which}"), ts=ts)
            if what == "offer":
                offers.append(op)
        elif what == "request" and offers:
            o = offers[which % len(offers)]
            body = {"offer": o.id, "window": [T0 + 2 * DAY, T0 + 3 * DAY]}
            op, out = w.do(who, "reservation.request", body, deps=[o.id], ts=ts)
            if out.status == "applied":
                asked.append(op)
        elif what == "step" and asked:
            r = asked[which % len(asked)]
            kind = STEPS[which % len(STEPS)]
            for by in (who, 1, 2, 3, 4):  # whoever may take the step
                if w.do(by, kind, {"reservation": r.id}, deps=[r.id], ts=ts)[1].status == "applied":
                    break
        elif what == "work":
            body = {"action": "work", "effort_minutes": 30, "at": T0 + t, "note": f"w{which}"}
            works.append((who, w.ok(who, "contribution.record", body, ts=ts)))
        elif what == "correct" and works:
            who, c = works[which % len(works)]
            body = {"id": c.id, "set": {"at": T0 + (which % 4)}}
            w.do(who, "contribution.correct", body, deps=[c.id], ts=ts)
        elif what == "thread":
            body = {"title": f"t{which}", "text": ""}
            if offers and which % 2:
                body["target"] = offers[which % len(offers)].id
            deps = [body["target"]] if "target" in body else []
            threads.append(w.ok(who, "thread.create", body, deps=deps, ts=ts))
        elif what == "comment" and threads:
            th = threads[which % len(threads)]
            w.ok(who, "comment.create", {"thread": th.id, "text": "re"}, deps=[th.id], ts=ts)
    return w


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(STEP, min_size=10, max_size=40))
def test_the_newest_events_are_read_from_the_time_lines(tmp_path_factory, steps):
    w = _world(steps)
    path = tmp_path_factory.mktemp("activity") / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest([op.raw for op in w.ops])
        for source in (w.replica, store):
            cid = w.community.hex()

            def query(view, **args):
                return run_query(source, view, args)  # noqa: B023

            everything = activity(query, cid)
            order = [(min(e["ts"], MAX_RANK), e["id"]) for e in everything]
            assert order == sorted(order, reverse=True)
            for limit in range(1, len(everything) + 2):
                assert activity(query, cid, limit) == everything[:limit]
            contributions = query("contributions", community=cid)
            for n in (1, 2, 5):
                newest = query("contributions", community=cid, newest=n)
                latest = sorted(contributions, key=lambda v: (v["fields"]["at"], v["id"]))
                assert newest == latest[::-1][:n]
            # threads: newest activity first (ties by id, highest first); a page, or the
            # threads about one record, read from their lists, equal the whole list cut
            every = query("threads", community=cid)
            event(
                f"threads: {min(len(every), 3)}+, about a record: {any(t['target'] for t in every)}"
            )
            event(f"far times: {any(e['ts'] > MAX_RANK for e in everything)}")
            order = [(min(t["last_activity_ts"], MAX_RANK), t["id"]) for t in every]
            assert order == sorted(order, reverse=True)
            for offset, limit in ((0, 1), (1, 2), (3, 5), (0, 100)):
                page = query("threads", community=cid, limit=limit, offset=offset)
                assert page == every[offset : offset + limit]
            for target in {t["target"] for t in every if t["target"]}:
                about = [t for t in every if t["target"] == target]
                assert query("threads", community=cid, target=target) == about


def test_many_rows_claiming_one_time_do_not_make_a_page_read_them_all(tmp_path):
    """Times are claims: a member who gives many reservations' steps one time gets at most
    ``TIES`` of them read past a page's end."""
    from node.crdt.records import listing_views

    w = World({"name": "c"})
    w.join(1, 2)
    offer = w.ok(1, "offer.create", offer_body(), ts=T0 + DAY)
    body = {"offer": offer.id, "window": [T0 + 2 * DAY, T0 + 3 * DAY]}
    for _ in range(listing_views.TIES + 50):
        w.ok(2, "reservation.request", body, deps=[offer.id], ts=T0 + DAY + 1)
    with Store.open(tmp_path / "store.db", HANDLERS) as store:
        store.ingest([op.raw for op in w.ops])
        for state in (w.state, store.state):
            page = listing_views.reservations(state, w.community, newest=1)
            assert len(page) == 1 + listing_views.TIES
