"""Store files of older schema versions open with the same state, and keep working (each
layout is converted once, on open). ``data/store_v4.db`` was written by the node of schema 4."""

import sqlite3

from node.crdt.op import decode_op, op_id
from node.store import Store
from node.store.rows import TABLE_CODES
from node.store.schema import SCHEMA_VERSION, STATUS_CODES
from tests.factory import PUT_HANDLERS, history, keys, twin


def _note(op, ctx):
    """Every note leaves a row, so the state table has something to convert."""
    ctx.state.put("note", op.id, {"i": op.body["i"], "author": op.author})


HANDLERS = {**PUT_HANDLERS, "note": _note}
C, OPS = history(3, 60, seed=3)


def _as_named(db):
    """State rows under their tables' names and statuses in full, as every schema before 7
    stored them."""
    for name, code in TABLE_CODES.items():
        db.execute("UPDATE state SET tbl = ? WHERE tbl = ?", (name, code))
    db.execute("DELETE FROM state_order")
    for name, code in STATUS_CODES.items():
        db.execute("UPDATE ops SET status = ? WHERE status = ?", (name, code))
    db.execute("DROP INDEX ops_rejected")
    db.execute("CREATE INDEX ops_rejected ON ops (status) WHERE status = 'rejected'")


def _to_version_4(path):
    """Rewrite the file the way schema 4 stored it: numbered state rows, no id index, no
    anchors."""
    db = sqlite3.connect(path, isolation_level=None)
    _as_named(db)
    db.execute("BEGIN")
    db.execute(
        "CREATE TABLE state_old (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, key NOT NULL,"
        " value BLOB NOT NULL)"
    )
    db.execute("INSERT INTO state_old (tbl, key, value) SELECT tbl, key, value FROM state")
    db.execute("DROP TABLE state")
    db.execute("ALTER TABLE state_old RENAME TO state")
    db.execute("DROP INDEX ops_id")
    db.execute("DROP TABLE anchors")
    db.execute("UPDATE meta SET value = 4 WHERE key = 'schema'")
    db.execute("COMMIT")
    db.close()


def _rows(store):
    return sorted(store.state.items())


def _raws(store):
    return [raw for (raw,) in store._db.execute("SELECT raw FROM ops ORDER BY rowid")]


def _written_by_schema(version: int, tmp_path):
    """A copy of ``data/store_records_v{version}.db`` (written by the node of that schema) and
    its ops' bytes, in log order; the file is checked to be of that schema still."""
    import shutil
    from pathlib import Path

    path = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / f"store_records_v{version}.db", path)
    db = sqlite3.connect(path)
    raws = [raw for (raw,) in db.execute("SELECT raw FROM ops ORDER BY rowid")]
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (version,)
    db.close()
    return path, raws


def test_numbered_state_layout_is_converted_on_open(tmp_path):
    path = tmp_path / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest(OPS[:40])
        before = _rows(store)
    assert before, "the workload must leave state rows"
    _to_version_4(path)
    with Store.open(path, HANDLERS) as store:
        assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            SCHEMA_VERSION,
        )
        assert _rows(store) == before
        store.ingest(OPS[40:])
        after = _rows(store)
    with Store.open(path, HANDLERS) as store:
        assert _rows(store) == after
    fresh = tmp_path / "fresh.db"
    with Store.open(fresh, HANDLERS) as store:
        store.ingest(OPS)
        assert _rows(store) == after


def test_schema_1_file_opens_as_2_and_then_logs_fork_branches(tmp_path):  # then 3
    """Version 1 allowed one op per chain position (a unique index); version 2 logs every
    branch of a fork. A version 1 file is converted on open and then takes a fork's twin."""
    path = tmp_path / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest(OPS[:40])
        before = _rows(store)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP INDEX ops_position")
    db.execute("CREATE UNIQUE INDEX ops_chain ON ops (chain, seq)")
    db.execute("UPDATE meta SET value = 1 WHERE key = 'schema'")
    _as_named(db)
    db.execute("UPDATE state SET value = x'a0'")  # rows of an older shape: rebuilt on open
    db.close()
    last = OPS[39]
    with Store.open(path, HANDLERS) as store:
        assert _rows(store) == before
        assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            SCHEMA_VERSION,
        )
        assert (
            store._db.execute("SELECT 1 FROM meta WHERE key = 'rebuild_state'").fetchone() is None
        )
        author = next(k for k in keys(3) if bytes(k.verify_key) == last.author)
        out = store.ingest([twin(author, last)])
        assert out[0].status == "fork"
        assert store.status(out[0].op_id) == ("void", "author forked")
    with Store.open(path, HANDLERS) as store:  # rebuilt once, then as written
        fresh = Store.open(tmp_path / "fresh.db", HANDLERS)
        fresh.ingest([op for op in OPS[:40]])
        fresh.ingest([twin(author, last)])
        assert _rows(store) == sorted(fresh.state.items())
        fresh.close()


def test_schema_2_file_rebuilds_so_past_removals_cut_their_chains(tmp_path):
    """Version 2 let a removed member's ops concurrent with the removal apply; version 3
    voids them (``chain.cut``). A version 2 file (statuses and state as version 2 wrote
    them) opens as 3 with the state and statuses a fresh store computes."""
    from test_governance_converge import E1, MUTUAL

    path = tmp_path / "store.db"
    with Store.open(path) as store:
        store.ingest(MUTUAL.ops)
        want = _rows(store)
        statuses = [store.status(op.id) for op in MUTUAL.ops]
    assert ("void", "author removed") in statuses
    db = sqlite3.connect(path, isolation_level=None)
    _as_named(db)
    db.execute("UPDATE ops SET status = 'applied', reason = ''")
    assert db.execute("DELETE FROM state WHERE tbl = 'chain.cut'").rowcount
    db.execute("UPDATE meta SET value = 2 WHERE key = 'schema'")
    db.close()
    with Store.open(path) as store:
        assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            SCHEMA_VERSION,
        )
        assert _rows(store) == want
        assert [store.status(op.id) for op in MUTUAL.ops] == statuses
        assert store.status(E1.id)[0] == "rejected"


def test_schema_3_file_rebuilds_rows_with_the_signing_key(tmp_path):
    """Version 4 keeps, in each record, the member it counts for and the key that signed it
    (``by``). A version 3 file (rows as version 3 wrote them: no ``by``) opens as 4 with the
    rows a fresh store computes."""
    import cbor2
    from test_records_support import World, offer_body

    w = World({"name": "migrate", "membership": {"rule": "open"}})
    w.do(1, "member.join", {})
    w.do(1, "offer.create", offer_body())
    path = tmp_path / "store.db"
    with Store.open(path) as store:
        store.ingest(w.ops)
        want = _rows(store)
    db = sqlite3.connect(path, isolation_level=None)
    _as_named(db)
    offers = db.execute("SELECT key, value FROM state WHERE tbl = 'offer'").fetchall()
    assert offers
    for key, value in offers:
        row = cbor2.loads(value)
        del row["by"]
        db.execute(
            "UPDATE state SET value = ? WHERE tbl = 'offer' AND key = ?", (cbor2.dumps(row), key)
        )
    db.execute("UPDATE meta SET value = 3 WHERE key = 'schema'")
    db.close()
    with Store.open(path) as store:
        assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            SCHEMA_VERSION,
        )
        assert _rows(store) == want


def test_a_file_written_by_the_schema_4_node_opens_as_5(tmp_path):
    """``data/store_v4.db`` was written by the schema 4 node (``data/make_store_v4.py`` run
    on that commit: 700 record ops, a stranger's rejected offer, a forked chain). It opens
    with the rows and statuses a fresh store computes from the same ops, reads and writes as
    version 5, and keeps them across a reopen."""
    import shutil
    from pathlib import Path

    path = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", path)
    db = sqlite3.connect(path)
    raws = [raw for (raw,) in db.execute("SELECT raw FROM ops ORDER BY rowid")]
    forks = [proof for (proof,) in db.execute("SELECT proof FROM forks")]
    db.close()
    with Store.open(tmp_path / "fresh.db") as fresh:
        fresh.ingest(raws)
        fresh.ingest_fork_proofs(forks)
        want = _rows(fresh), [fresh.status(op_id(r)) for r in raws]
    assert ("rejected", "not_member") in want[1] and ("void", "author forked") in want[1]
    with Store.open(path) as store:
        assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            SCHEMA_VERSION,
        )
        assert (_rows(store), [store.status(op_id(r)) for r in raws]) == want
        assert store.ingest(raws[-5:])[0].status == "duplicate"
    with Store.open(path) as store:
        assert (_rows(store), [store.status(op_id(r)) for r in raws]) == want


def test_a_file_written_by_the_schema_5_node_keeps_splits_and_opens_as_6(tmp_path):
    """``data/store_v5.db`` was written by the schema 5 node (``data/make_store_v5.py`` on
    that commit): member X split its chain at seq 8 and at seq 4, of which schema 5 kept the
    proof at 4; member Y was sent twins naming different prevs (no split: the twin they
    continue never came), which schema 5 kept as a proof; a stranger split at seq 1; in a
    second community, its founder signed an op beside the genesis, and schema 5 voided the
    genesis (that community was gone). Opened as 6, it finds X's two splits in its log (void
    from seq 1, the join too), drops Y's proof (Y's ops apply again), brings the second
    community back, and holds the rows and statuses a fresh store computes from the same ops
    and proofs, across a reopen."""
    import shutil
    from pathlib import Path

    from nacl.signing import SigningKey

    path = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v5.db", path)
    db = sqlite3.connect(path)
    raws = [raw for (raw,) in db.execute("SELECT raw FROM ops ORDER BY rowid")]
    waiting = [raw for (raw,) in db.execute("SELECT raw FROM pending")]
    forks = [proof for (proof,) in db.execute("SELECT proof FROM forks")]
    c, second = (raw_id for (raw_id,) in db.execute("SELECT id FROM ops WHERE chain IN"
                 " (SELECT id FROM chains WHERE community = ops.id) ORDER BY rowid"))  # fmt: skip
    was = {(cc, a): seq for cc, a, seq in db.execute("SELECT community, author, seq FROM forks")}
    db.close()
    with Store.open(tmp_path / "fresh.db") as fresh:
        fresh.ingest(raws + waiting)
        fresh.ingest_fork_proofs(forks)
        assert sorted(fresh.communities()) == sorted([c, second])
        want = (
            _rows(fresh),
            [fresh.status(op_id(r)) for r in raws],
            fresh.forked(c),
            fresh.forked(second),
        )
    x, y, s = (bytes(SigningKey(bytes([i]) * 32).verify_key) for i in (2, 3, 4))
    assert was == {(c, x): 4, (c, y): 4, (c, s): 1, (second, s): 1}  # what schema 5 voided
    assert want[2:] == ({x: 1, s: 1}, {s: 1})
    assert want[1][[op_id(r) for r in raws].index(second)] == ("applied", "")  # its genesis
    for _ in range(2):  # the migration, then a plain reopen
        with Store.open(path) as store:
            assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
                SCHEMA_VERSION,
            )
            got = (
                _rows(store),
                [store.status(op_id(r)) for r in raws],
                store.forked(c),
                store.forked(second),
            )
            assert got == want
            assert sorted(p.seq for p in store.fork_proofs(c)) == [1, 4, 8]
            assert store.state.get("community", second) is not None
            assert store.pending_count() == len(waiting) == 1


def test_a_schema_5_file_whose_founder_voided_the_genesis_gets_its_community_back(tmp_path):
    """``data/store_v5_founder.db`` (``make_store_v5.py --founder-only`` on the schema 5
    commit): a founder's op at seq 1 beside the genesis made schema 5 void the genesis, so
    the community was gone and a member's join rejected. Nothing else in the file changes
    what is void, so only the rule "the genesis is never void" can bring it back on open."""
    import shutil
    from pathlib import Path

    path = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v5_founder.db", path)
    db = sqlite3.connect(path)
    statuses = dict(db.execute("SELECT status, count(*) FROM ops GROUP BY status"))
    (genesis,) = db.execute("SELECT id FROM ops ORDER BY rowid LIMIT 1").fetchone()
    db.close()
    assert statuses == {"void": 2, "rejected": 1}  # schema 5: genesis and twin void, join out
    with Store.open(path) as store:
        assert store.state.get("community", genesis) is not None
        assert store.status(genesis) == ("applied", "")
        assert [s for s, _ in (store.status(op_id(r)) for r in _raws(store))].count("void") == 1


def test_a_file_written_by_the_schema_6_node_opens_as_7(tmp_path):
    """``data/store_records_v6.db`` was written by the schema 6 node (``data/
    make_store_records_v6.py`` on that commit): state rows named their table in full. Opened
    as 7, every row is under its table's code and every op's status a letter, and the rows
    (by table name), the statuses
    and the lists read from the index are those of a fresh store given the same ops, across
    a reopen."""
    import shutil
    from pathlib import Path

    from node.crdt.records import listing_views, queries

    path = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / "store_records_v6.db", path)
    db = sqlite3.connect(path)
    raws = [raw for (raw,) in db.execute("SELECT raw FROM ops ORDER BY rowid")]
    named = {t for (t,) in db.execute("SELECT DISTINCT tbl FROM state")}
    assert {s for (s,) in db.execute("SELECT DISTINCT status FROM ops")} == {"applied"}
    db.close()
    assert {"contribution", "attestation", "project", "member"} <= named  # as 6 wrote them
    with Store.open(tmp_path / "fresh.db") as fresh:
        fresh.ingest(raws)
        (c,) = fresh.communities()
        want = (_rows(fresh), [fresh.status(op_id(r)) for r in raws])
        lists = (
            queries.contributions(fresh.state, c, newest=3),
            listing_views.offers(fresh.state, c, 0),
        )
    for _ in range(2):  # the migration, then a plain reopen
        with Store.open(path) as store:
            db = store._db
            assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
                SCHEMA_VERSION,
            )
            stored = {t for (t,) in db.execute("SELECT DISTINCT tbl FROM state")}
            kept = {TABLE_CODES[t] for t in ("score.rules", "score.total", "score.days")}
            assert stored == {TABLE_CODES.get(t, t) for t in named} | kept  # schema 9 keeps totals
            assert {s for (s,) in db.execute("SELECT DISTINCT status FROM ops")} == {"a"}
            assert (_rows(store), [store.status(op_id(r)) for r in raws]) == want
            got = (
                queries.contributions(store.state, c, newest=3),
                listing_views.offers(store.state, c, 0),
            )
            assert got == lists


def test_a_file_written_by_the_schema_7_node_opens_as_8(tmp_path):
    """``data/store_records_v7.db`` was written by the schema 7 node (``data/
    make_store_records_v7.py`` on that commit): contribution rows did not count their
    verdicts and nothing kept summaries. Opened as 8, the rows, the summaries and the score
    table are those of a fresh store given the same ops (members who changed their verdict,
    attested a version a correction replaced, a retraction), across a reopen."""
    from node.crdt.records import views
    from node.crdt.records.common import CONTRIBUTION

    path, raws = _written_by_schema(7, tmp_path)

    def seen(store):
        (c,) = store.communities()
        return (
            _rows(store),
            sorted(store.state.summaries(CONTRIBUTION, c)),
            views.scores(store.state, c, 1_700_100_000_000),
        )

    with Store.open(tmp_path / "fresh.db") as fresh:
        fresh.ingest(raws)
        want = seen(fresh)
    rows, summaries, table = want
    assert len(summaries) == 7 and len(table) == 2  # two members have work that counts
    assert any(len(r["verdicts"]) == 2 for t, _, r in rows if t == CONTRIBUTION)
    for _ in range(2):  # the migration, then a plain reopen
        with Store.open(path) as store:
            assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
                SCHEMA_VERSION,
            )
            assert seen(store) == want


def test_a_file_written_by_the_schema_8_node_opens_as_9(tmp_path):
    """``data/store_records_v8.db`` was written by the schema 8 node (``data/
    make_store_records_v8.py`` on that commit): nothing kept members' counted work summed.
    Opened as 9, every row (the kept totals included) is that of a fresh store given the same
    ops, and the score table read from the totals is the rule over the rows, across a
    reopen."""
    from node.crdt.records import score, views
    from node.crdt.records.common import CONTRIBUTION
    from node.crdt.records.totals import TOTALS

    path, raws = _written_by_schema(8, tmp_path)
    later = [1_700_000_000_000 + days * 86_400_000 for days in (3, 40, 400)]

    def seen(store):
        (c,) = store.communities()
        return _rows(store), [views.scores(store.state, c, now) for now in later]

    with Store.open(tmp_path / "fresh.db") as fresh:
        fresh.ingest(raws)
        want = seen(fresh)
    rows, tables = want
    assert sum(1 for t, _, _ in rows if t == TOTALS) == 2  # two members have work that counts
    assert len(tables[0]) == 2 and tables[0] != tables[1] != tables[2]  # it decays
    for _ in range(2):  # the migration, then a plain reopen
        with Store.open(path) as store:
            assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
                SCHEMA_VERSION,
            )
            assert seen(store) == want
            (c,) = store.communities()
            everything = {decode_op(r, verify=False).author: 2**40 for r in raws}  # a cut
            for now in later:  # the totals' table is the rule read from every row
                table = score.scores_and_counts(store.state, c, None, now)
                by_rows = {}, {}
                for m in {r["contributor"] for r in store.state.rows(CONTRIBUTION)}:
                    s, n = score.scores_and_counts(store.state, c, everything, now, member=m)
                    by_rows[0].update(s)
                    by_rows[1].update(n)
                assert table == by_rows
