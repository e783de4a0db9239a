"""State rows and log metadata in the store file (issue 13): the SQLite-backed views answer
exactly as the in-memory ones, whatever the cache lets go, and memory stays bounded."""

import sqlite3

import hypothesis.strategies as st
from hypothesis import HealthCheck, example, given, settings

from node.crdt.state import Rejected, State, ordered_by
from node.store import Store, rows, schema
from node.store.rows import ZSTD_MAGIC, SqlState
from tests.factory import PUT_HANDLERS, history

KEYS = st.one_of(
    st.binary(min_size=0, max_size=3).map(lambda b: b"\x00" * 1 + b),
    st.binary(min_size=1, max_size=3).map(lambda b: b"\xff" + b),
    st.text(alphabet="ab\U0010ffff", min_size=0, max_size=3),
)
VALUES = st.one_of(
    st.integers(-20, 20),  # -9 encodes as the byte 0x28, the first byte of a zstd frame
    st.dictionaries(st.sampled_from(["a", "b"]), st.binary(max_size=80), max_size=2),
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(["t", "u"]), KEYS, VALUES),
        st.tuples(st.just("delete"), st.sampled_from(["t", "u"]), KEYS),
        st.tuples(st.just("get"), st.sampled_from(["t", "u"]), KEYS),
        st.tuples(st.just("scan"), st.sampled_from(["t", "u"]), st.one_of(st.none(), KEYS)),
        st.tuples(st.just("save")),
    ),
    max_size=60,
)


ordered_by("test.ordered", lambda key, row: ((row["g"], row["r"]), (b"all", row["r"])))  # two
MOVES = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.binary(min_size=1, max_size=2),
            st.sampled_from([b"g", b"h"]),
            st.integers(-3, 3),
        ),
        st.tuples(st.just("delete"), st.binary(min_size=1, max_size=2)),
        st.tuples(st.just("save")),
    ),
    max_size=50,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=MOVES)
def test_ordered_rows_come_in_the_declared_order(tmp_path, moves):
    """Rows of a table that declares an order, written, moved to another group or rank and
    deleted in any sequence: the store's index and the in-memory one list each group (and
    the rows of some ranks in it, and their keys alone) as a sort of the whole table does,
    and a reopened state (or one whose index is rebuilt) too."""
    db, sql, mem = _twin_states(tmp_path / "ordered.db")
    for move in moves:
        if move[0] == "put":
            _, key, group, rank = move
            for state in (sql, mem):
                state.put("test.ordered", key, {"g": group, "r": rank})
        elif move[0] == "delete":
            for state in (sql, mem):
                state.delete("test.ordered", move[1])
        else:
            sql.save()
        for group in (b"g", b"h", b"all"):
            assert list(sql.ordered("test.ordered", group)) == _sorted_group(mem, group)
            assert list(mem.ordered("test.ordered", group)) == _sorted_group(mem, group)
            for ranks in ((0,), (-3, 3), (2, -1, 1)):  # only those ranks: a seek each
                want = [(k, r) for k, r in _sorted_group(mem, group) if r["r"] in ranks]
                assert list(sql.ordered("test.ordered", group, ranks)) == want
                assert list(mem.ordered("test.ordered", group, ranks)) == want
                assert sql.keys_in("test.ordered", group, ranks) == [k for k, _ in want]
                assert mem.keys_in("test.ordered", group, ranks) == [k for k, _ in want]
        held = sorted({g for _, r in mem.scan("test.ordered") for g in (r["g"], b"all")})
        assert sql.groups("test.ordered", b"") == mem.groups("test.ordered", b"") == held
    sql.save()
    db.execute("DELETE FROM meta WHERE key = 'state_order'")
    db.execute("COMMIT")
    again = SqlState(db)  # rebuilds the index from the rows
    for group in (b"g", b"h", b"all"):
        assert list(again.ordered("test.ordered", group)) == list(
            mem.ordered("test.ordered", group)
        )
    db.close()


def _sorted_group(state, group):
    """The declared order, by sorting the whole table."""
    rows = [(r["r"], k, r) for k, r in state.scan("test.ordered") if group in (r["g"], b"all")]
    return [(k, r) for _, k, r in sorted(rows, key=lambda x: (x[0], x[1]), reverse=True)]


def _note(op, ctx):
    """A row per note, some rejected: the store has rows and rejections to look up."""
    if op.body["i"] % 7 == 0:
        raise Rejected("seventh", "every seventh note is refused")
    ctx.state.put("note", op.id, {"i": op.body["i"], "author": op.author})


HANDLERS = {**PUT_HANDLERS, "note": _note}


def _twin_states(path):
    """A fresh store file in a transaction, its state with a 2-row cache, and a memory state
    (hypothesis runs a test many times in one tmp_path: each example starts afresh)."""
    path.unlink(missing_ok=True)
    db = schema.connect(path)
    db.execute("BEGIN")
    return db, SqlState(db, cache_rows=2), State()


def _db(tmp_path):
    return schema.connect(tmp_path / "rows.db")


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
@example(steps=[("put", "t", "\U0010ffff", 0), ("scan", "t", "")])  # no text above it
def test_sql_rows_answer_as_memory_rows(tmp_path, steps):
    """Any sequence of writes, reads, prefix scans and saves, with a cache of 2 rows: the
    file-backed state and the in-memory one agree at every step, and after a reopen."""
    db, sql, mem = _twin_states(tmp_path / "rows.db")
    for step in steps:
        what, *args = step
        if what == "put":
            sql.put(*args)
            mem.put(*args)
        elif what == "delete":
            sql.delete(*args)
            mem.delete(*args)
        elif what == "get":
            assert sql.get(*args) == mem.get(*args)
        elif what == "scan":
            assert sorted(sql.scan(*args), key=repr) == sorted(mem.scan(*args), key=repr)
        else:
            sql.save()
    sql.save()
    db.execute("COMMIT")
    again = SqlState(db)
    assert sorted(again.items(), key=repr) == sorted(mem.items(), key=repr)
    db.close()


def test_rows_are_packed_once_the_store_has_a_dictionary(tmp_path, monkeypatch):
    """After TRAIN_ROWS rows the store trains a zstd dictionary on them; later rows are
    stored packed (smaller), earlier ones stay plain, and both read back, after a reopen too."""
    monkeypatch.setattr(rows, "TRAIN_ROWS", 200)
    db = _db(tmp_path)

    def row(i):
        return {
            "title": f"drill {i}",
            "category": "tools/power",
            "status": "active",
            "i": i,
            "description": "a cordless drill with two batteries, ask before noon",
        }

    db.execute("BEGIN")
    state = SqlState(db)
    for i in range(300):
        state.put("thing", i.to_bytes(4, "big"), row(i))
        if i % 50 == 49:
            state.save()
    db.execute("COMMIT")
    assert db.execute("SELECT 1 FROM meta WHERE key = 'state_dict'").fetchone()
    db.execute("BEGIN")
    for i in range(300, 400):
        state.put("thing", i.to_bytes(4, "big"), row(i))
    state.save()
    db.execute("COMMIT")
    blobs = dict(db.execute("SELECT key, value FROM state WHERE tbl = 'thing'").fetchall())
    plain, packed = blobs[(5).to_bytes(4, "big")], blobs[(350).to_bytes(4, "big")]
    assert not plain.startswith(ZSTD_MAGIC) and packed.startswith(ZSTD_MAGIC)
    assert len(packed) < len(plain)
    fresh = SqlState(db)
    assert [fresh.get("thing", i.to_bytes(4, "big")) for i in range(400)] == [
        row(i) for i in range(400)
    ]
    db.close()


def test_memory_does_not_hold_history(tmp_path, monkeypatch):
    """With small caches, a store's memory holds at most the caches' bounds after a long
    ingest; the state and statuses are those of a store with large caches, and a reopen
    loads no op and no row."""
    from node.store import log

    monkeypatch.setattr(log, "CACHE_METAS", 32)
    monkeypatch.setattr(log, "CACHE_REJECTIONS", 8)
    monkeypatch.setattr(rows, "CACHE_ROWS", 16)
    community, ops = history(4, 400, seed=11)
    with Store.open(tmp_path / "small.db", HANDLERS) as small:
        for i in range(0, len(ops), 37):
            small.ingest(ops[i : i + 37])
        assert len(small.log.metas._cache) <= 32 and not small.log.metas._new
        assert len(small.log.rejections._cache) <= 8
        assert len(small.state._cache) <= 16 and not small.state._unsaved
        got = sorted(small.state.items()), [small.status(op.id) for op in ops]
    monkeypatch.undo()
    with Store.open(tmp_path / "big.db", HANDLERS) as big:
        big.ingest(ops)
        assert (sorted(big.state.items()), [big.status(op.id) for op in ops]) == got
    with Store.open(tmp_path / "small.db", HANDLERS) as again:
        assert not again.log.metas._cache and not again.state._cache
        assert (sorted(again.state.items()), [again.status(op.id) for op in ops]) == got


def test_a_reopened_store_walks_from_its_kept_anchors(tmp_path):
    """The store keeps a few recent anchors in its file: after a reopen, the first causal
    query about a recent op stops at them instead of walking the whole history (the same
    query with the anchors dropped from the file walks it all)."""
    community, ops = history(3, 900, seed=5)
    path = tmp_path / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest(ops)
    db = sqlite3.connect(path, isolation_level=None)
    kept = db.execute("SELECT count(*) FROM anchors").fetchone()[0]
    assert 1 <= kept <= schema.ANCHORS_KEPT

    def first_walk():
        with Store.open(path, HANDLERS) as store:
            looked = []
            causal = store.replica.causal
            lookup = causal._lookup
            causal._lookup = lambda oid: looked.append(oid) or lookup(oid)
            clock = causal.vector_clock(store.replica.metas[ops[-1].id])
            return clock, len(looked)

    clock, with_anchors = first_walk()
    db.execute("DELETE FROM anchors")
    db.close()
    again, without = first_walk()
    assert clock == again and sum(clock.values()) == 901  # with the genesis
    assert without > 800 and with_anchors < without / 4


def test_a_store_lists_and_matches_from_its_index_as_from_a_full_pass(tmp_path):
    """On a records workload in a real store: newest-first pages (all, one author's, an id
    prefix), a need's matches, and the projects (all, the latest, a member's) read through
    the state's order give what a full pass over the rows gives."""
    from bench.records import workload
    from node.crdt.records import listing_views, queries
    from node.crdt.records.common import NEED, OFFER, PROJECT
    from node.crdt.records.listings import effective_status
    from node.crdt.records.matching import by_category, match_listing, pair_fit
    from node.crdt.records.projects import runners

    community, ops, _ = workload(3_000, seed=4)
    now = max(op.ts for op in ops)
    with Store.open(tmp_path / "store.db") as store:
        store.ingest([op.raw for op in ops])
        state = store.state
        offers = list(state.rows(OFFER))
        newest = sorted(offers, key=lambda r: (r["ts"], r["id"]), reverse=True)
        page = listing_views.offers(state, community, now, status=None, limit=30, offset=10)
        assert [v["id"] for v in page] == [r["id"] for r in newest[10:40]]
        author = newest[0]["author"]
        mine = listing_views.offers(state, community, now, status=None, author=author, limit=None)
        assert len(mine) == sum(r["author"] == author for r in offers) > 0
        target = newest[5]["id"].hex()[:7]
        found = listing_views.offers(state, community, now, status=None, id_prefix=target)
        assert len(found) == sum(r["id"].hex().startswith(target) for r in offers) == 1
        for bad in ("zz", "0g", target[0]):  # not hex, and one hex digit: a full pass's answer
            got = listing_views.offers(
                state, community, now, status=None, id_prefix=bad, limit=None
            )
            assert len(got) == sum(r["id"].hex().startswith(bad) for r in offers)
        # a need's matches, read from the open listings' index (a category's, or all of them
        # at once), are the pairs a full pass over every offer finds active and fitting
        live = [r for r in offers if effective_status(r, now) == "active"]
        index = by_category(state, OFFER, community, now)
        needs = [r for r in state.rows(NEED) if effective_status(r, now) == "active"][:25]
        assert needs and live  # (statuses and expiry: test_records_listings)
        for need in needs:
            fit = [m for o in live if (m := pair_fit(need, o)) is not None]
            brute = sorted(fit, key=lambda m: (-m.score, m.offer))[:20]
            assert match_listing(state, NEED, need["id"], now, 20) == brute
            assert match_listing(state, NEED, need["id"], now, 20, index) == brute
        # projects: all of them, the latest started, and those a member runs
        every = sorted(state.rows(PROJECT), key=lambda r: (r["ts"], r["id"]))
        ids = lambda views: [v["id"] for v in views]  # noqa: E731
        assert len(every) > 7 and ids(queries.projects(state, community)) == ids(every)
        latest = ids(every[::-1][:7])
        assert ids(queries.projects(state, community, newest=7)) == latest
        for runner in {r["creator"] for r in every[:5]}:
            run = [r for r in every if runner in runners(r)]
            assert run and ids(queries.projects(state, community, runner=runner)) == ids(run)


def test_member_views_read_their_groups_as_a_full_pass_filters(tmp_path):
    """On a records workload, in a real store and in a replica's memory: a member's
    reservations, an offer's reservations and custody, a member's contributions and score,
    read through the members' groups (``by_party``, ``by_contributor``), equal the
    community-wide answer filtered to that member or offer."""
    from fractions import Fraction

    from bench.records import workload
    from node.crdt.records import listing_views, queries, score, views
    from node.crdt.replica import Replica
    from node.store import default_handlers

    community, ops, _ = workload(3_000, seed=5)
    now = max(op.ts for op in ops)
    replica = Replica(default_handlers())
    replica.ingest_many(ops)
    handed = 0
    with Store.open(tmp_path / "store.db") as store:
        store.ingest([op.raw for op in ops])
        for state in (store.state, replica.state):
            every = listing_views.reservations(state, community)
            scores = score.contribution_scores(state, community, None, now)
            contributions = queries.contributions(state, community)
            parties = {r["requester"] for r in every} | {r["owner"] for r in every}
            assert len(every) > 100 and len(parties) > 20 and len(scores) > 20
            # the score table: scores and counted contributions from one pass over the rows
            counted = {}
            for c in contributions:
                if c["counts"]:
                    counted[c["contributor"]] = counted.get(c["contributor"], 0) + 1
            table = views.scores(state, community, now)
            assert {bytes(r["member"]): r["confirmed"] for r in table} == {
                m: counted.get(m, 0) for m in scores
            }
            assert {bytes(r["member"]): Fraction(*r["score"]) for r in table} == scores
            assert any(r["confirmed"] > 1 for r in table)
            for m in sorted(parties)[:20]:
                mine = [r for r in every if m in (r["owner"], r["requester"])]
                assert listing_views.reservations(state, community, member=m) == mine
                assert score.contribution_scores(state, community, None, now, member=m) == (
                    {m: scores[m]} if m in scores else {}
                )
                theirs = [c for c in contributions if c["contributor"] == m]
                assert queries.contributions(state, community, member=m) == theirs
            offers = sorted({r["offer"] for r in every})[:40]
            for offer in offers:
                on = [r for r in every if r["offer"] == offer]
                assert listing_views.reservations(state, community, offer=offer) == on
                moves = {"handed_over": ("handover", "requester"), "returned": ("return", "owner")}
                custody = sorted(
                    (step["ts"], step["op"], r["id"], moves[step["status"]][0],
                     r[moves[step["status"]][1]])
                    for r in on
                    for step in r["steps"]
                    if step["status"] in moves
                )  # fmt: skip
                got = listing_views.custody_history(state, offer)
                assert [tuple(e.values()) for e in got] == custody
                handed += len(custody)
    assert handed > 0
