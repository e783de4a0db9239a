"""The SQLite store: API, persistence across reopen, and bad input rejected with nothing stored."""

import sqlite3

import cbor2
import pytest

from node.crdt.op import MAX_OP_SIZE, NO_COMMUNITY, OpError, canonical, sign_op
from node.crdt.replica import Replica
from node.crdt.state import Rejected
from node.store import Store
from tests.factory import PUT_HANDLERS as HANDLERS
from tests.factory import keys, put_handler
from tests.factory import twin as factory_twin

KEYS = keys(4)


def remote_ops(n_per_author=5):
    """A community made elsewhere: genesis by KEYS[0], then puts by KEYS[1] and KEYS[2]."""
    r = Replica(HANDLERS)
    genesis = r.compose(KEYS[0], b"", "community.create", {"name": "c"})
    r.ingest(genesis)
    ops = [genesis]
    for i in range(n_per_author):
        for k in KEYS[1:3]:
            op = r.compose(k, genesis.id, "put", {"name": "ab"[i % 2], "value": i}, ts=i)
            assert r.ingest(op).status == "applied"
            ops.append(op)
    return ops


def table_counts(path):
    db = sqlite3.connect(path)
    try:
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("ops", "chains", "heads", "forks", "pending", "state")
        }
    finally:
        db.close()


def test_file_is_wal(tmp_path):
    path = tmp_path / "node.db"
    Store.open(path, HANDLERS).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_ingest_then_reopen_without_replay(tmp_path):
    path = tmp_path / "node.db"
    ops = remote_ops()
    genesis = ops[0]
    with Store.open(path, HANDLERS) as s:
        outcomes = s.ingest([op.raw for op in reversed(ops)])  # worst order: all wait first
        assert {o.status for o in outcomes[:-1]} == {"pending"}
        assert s.pending_count() == 0
        heights = s.heights(genesis.id)
        state = sorted(s.state.items())
        assert s.ingest([op.raw for op in ops]) == [
            type(outcomes[0])(op.id, "duplicate") for op in ops
        ]
    calls = []

    def counting(op, ctx):
        calls.append(op.id)
        put_handler(op, ctx)

    with Store.open(path, {**HANDLERS, "put": counting}) as s:
        assert calls == []  # nothing replayed
        assert s.heights(genesis.id) == heights
        assert sorted(s.state.items()) == state
        assert s.communities() == [genesis.id]
        author = bytes(KEYS[1].verify_key)
        got = s.ops_from(genesis.id, author, 2, limit=2)
        assert [o.seq for o in got] == [2, 3]
        assert s.get_op(ops[3].id) == ops[3] and s.get_op(b"x" * 32) is None
        assert s.raw_from(genesis.id, author, 5) == [s.get_raw(heights[author][1])]


def test_append_assigns_fields_and_survives_reopen(tmp_path):
    path = tmp_path / "node.db"
    ops = remote_ops(2)
    with Store.open(path, HANDLERS) as s:
        s.ingest([op.raw for op in ops])
        me = KEYS[3]
        first = s.append(me, ops[0].id, "put", {"name": "mine", "value": 7})
        assert (first.seq, first.prev) == (1, None)
        # deps: the newest heads of the other authors (three of them)
        assert len(first.deps) == 3
        assert first.lamport == 1 + max(s.causal.meta(d).lamport for d in first.deps)
        second = s.append(me, ops[0].id, "put", {"name": "mine", "value": 8})
        # nobody else wrote since: those heads are covered by the chain, not named again
        assert (second.seq, second.prev, second.deps) == (2, first.id, ())
        more = remote_ops(3)  # one new op each by KEYS[1] and KEYS[2]
        assert [o.status for o in s.ingest([op.raw for op in more])][-2:] == ["applied"] * 2
        third = s.append(me, ops[0].id, "put", {"name": "b", "value": 1}, deps=[ops[1].id])
        assert set(third.deps) == {ops[1].id, more[-1].id, more[-2].id}
        replica = s.replica
        with pytest.raises(Rejected) as rejected:
            s.append(me, ops[0].id, "put", {"name": "mine", "value": -1})
        # the handler's words survive, for the CLI to say what is wrong
        assert (rejected.value.reason, rejected.value.detail) == ("negative", "values must be >= 0")
        assert s.replica is replica  # undone in memory, not by reloading the file
        assert s.heights(ops[0].id)[bytes(me.verify_key)] == (3, third.id)
        with pytest.raises(OpError):
            s.append(me, b"\x07" * 32, "put", {"name": "a", "value": 1})
        assert s.state.get("reg", "mine")["value"] == 8
    with Store.open(path, HANDLERS) as s:
        assert s.heights(ops[0].id)[bytes(me.verify_key)] == (3, third.id)
        assert s.status(third.id) == ("applied", "")
        # the rejected op was not stored: the next op takes seq 4 after third
        assert s.append(me, ops[0].id, "put", {"name": "c", "value": 1}).seq == 4


def test_the_collector_runs_again_after_every_batch(tmp_path):
    """The store pauses Python's cyclic collector while a batch is applied: after a batch,
    after a local op its handler rejected and after an unknown community (both raised out of
    the transaction), the collector runs again; one its caller paused stays paused."""
    import gc

    ops = remote_ops(2)
    with Store.open(tmp_path / "node.db", HANDLERS) as s:
        assert gc.isenabled()
        s.ingest([op.raw for op in ops])
        assert gc.isenabled()
        with pytest.raises(Rejected):
            s.append(KEYS[3], ops[0].id, "put", {"name": "x", "value": -1})
        assert gc.isenabled()
        with pytest.raises(OpError):
            s.append(KEYS[3], b"\x07" * 32, "put", {"name": "a", "value": 1})
        assert gc.isenabled()
        gc.disable()
        try:
            s.append(KEYS[3], ops[0].id, "put", {"name": "y", "value": 1})
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_create_community(tmp_path):
    with Store.open(tmp_path / "n.db", HANDLERS) as s:
        g = s.create_community(KEYS[0], {"name": "x"})
        assert g.community == NO_COMMUNITY and s.communities() == [g.id]
        assert s.heights(g.id) == {bytes(KEYS[0].verify_key): (1, g.id)}


def _nothing_stored(path):
    return set(table_counts(path).values()) == {0}


def test_malformed_bytes_rejected(tmp_path):
    path = tmp_path / "n.db"
    with Store.open(path, HANDLERS) as s:
        out = s.ingest([b"\xff\x00garbage", b"", cbor2.dumps([1, 2]), "not bytes"])
        assert [o.status for o in out] == ["invalid"] * 4
        assert [o.reason for o in out] == ["malformed"] * 4
    assert _nothing_stored(path)


def test_forged_signature_rejected(tmp_path):
    path = tmp_path / "n.db"
    genesis = remote_ops(1)[0]
    m = cbor2.loads(genesis.raw)
    m["sig"] = bytes(64)
    forged = canonical(m)
    other = dict(cbor2.loads(genesis.raw), body={"name": "evil"})  # content changed, old sig
    with Store.open(path, HANDLERS) as s:
        out = s.ingest([forged, canonical(other)])
        assert [(o.status, o.reason) for o in out] == [("invalid", "bad_signature")] * 2
        assert s.ingest_range([forged])[0].reason == "bad_signature"
    assert _nothing_stored(path)


def test_broken_chain_rejected(tmp_path):
    path = tmp_path / "n.db"
    ops = remote_ops(4)
    author = ops[1].author
    chain = [op for op in ops if op.author == author]
    with Store.open(path, HANDLERS) as s:
        out = s.ingest_range([chain[0].raw, chain[2].raw, chain[3].raw])  # seq 2 missing
        assert {(o.status, o.reason) for o in out} == {("invalid", "chain_broken")}
        out = s.ingest_range([chain[0].raw, ops[2].raw])  # mixes authors
        assert {(o.status, o.reason) for o in out} == {("invalid", "chain_broken")}
        # a validly signed op whose prev is not the author's op at seq - 1
        bad = sign_op(
            KEYS[1],
            community=ops[0].id,
            seq=2,
            prev=ops[0].id,
            lamport=2,
            ts=0,
            kind="put",
            body={"name": "a", "value": 1},
        )
        out = s.ingest([bad.raw])
        assert out[0].status == "pending"  # its seq 1 is not here yet
        assert s.ingest([ops[0].raw])[0].status == "applied"
    # the genesis is stored; the op that claims a wrong prev is not
    with Store.open(path, HANDLERS) as s:
        assert s.get_op(bad.id) is None and s.status(bad.id) is None
    counts = table_counts(path)
    assert counts["ops"] == 1 and counts["pending"] == 0


def test_oversized_op_rejected(tmp_path):
    path = tmp_path / "n.db"
    genesis = remote_ops(1)[0]
    big = dict(cbor2.loads(genesis.raw), body={"name": "a", "pad": "x" * MAX_OP_SIZE})
    big = canonical(big)  # signature aside, it is too large: that is checked first
    assert len(big) > MAX_OP_SIZE
    with Store.open(path, HANDLERS) as s:
        assert s.ingest([big])[0].reason == "too_large"
        assert s.ingest_range([big])[0].reason == "too_large"
    assert _nothing_stored(path)


def test_range_ingest_matches_per_op(tmp_path):
    ops = remote_ops(6)
    with Store.open(tmp_path / "a.db", HANDLERS) as a, Store.open(tmp_path / "b.db", HANDLERS) as b:
        a.ingest([op.raw for op in ops])
        b.ingest_range([ops[0].raw])
        for k in KEYS[1:3]:
            chain = [op.raw for op in ops if op.author == bytes(k.verify_key)]
            # the other author's ops are not all here yet: some wait, none is refused
            assert {o.status for o in b.ingest_range(chain[:3])} <= {"applied", "pending"}
            out = b.ingest_range(chain[1:])
            assert {o.status for o in out} <= {"duplicate", "applied", "pending"}
        assert b.pending_count() == 0
        assert a.heights(ops[0].id) == b.heights(ops[0].id)
        assert sorted(a.state.items()) == sorted(b.state.items())


def test_fork_detected_persisted_and_voids(tmp_path):
    path = tmp_path / "n.db"
    ops = remote_ops(3)
    chain = [op for op in ops if op.author == bytes(KEYS[1].verify_key)]
    twin = factory_twin(KEYS[1], chain[1], ts=999, body={"name": "z", "value": 5})
    with Store.open(path, HANDLERS) as s:
        s.ingest([op.raw for op in ops])
        assert s.status(chain[2].id) == ("applied", "")
        out = s.ingest([twin.raw])
        assert out[0].status == "fork"
        proofs = s.fork_proofs(ops[0].id)
        assert len(proofs) == 1 and {proofs[0].a.id, proofs[0].b.id} == {chain[1].id, twin.id}
        state = sorted(s.state.items())
    with Store.open(path, HANDLERS) as s:
        assert [p.encode() for p in s.fork_proofs(ops[0].id)] == [proofs[0].encode()]
        assert s.status(chain[1].id) == ("void", "author forked")
        assert s.status(chain[2].id) == ("void", "author forked")
        assert s.status(chain[0].id) == ("applied", "")
        assert sorted(s.state.items()) == state
        assert s.status(twin.id) == ("void", "author forked")  # the branch is logged too
        # what sync's outbox reads: one row per seq (the first logged at a forked seq), with
        # the lamport and seq of the op whose bytes it is
        for author in {op.author for op in ops}:
            for lo, n in ((1, None), (2, 1), (2, 5)):
                entries = s.entries_from(ops[0].id, author, lo, n)
                assert [raw for _, _, raw in entries] == s.raw_from(ops[0].id, author, lo, n)
                assert entries == [(o.lamport, o.seq, o.raw) for o in s.ops_from(
                    ops[0].id, author, lo, n)]  # fmt: skip
        assert [e[1] for e in s.entries_from(ops[0].id, twin.author, 1)] == [1, 2, 3]
    with Store.open(tmp_path / "other.db", HANDLERS) as s:
        # a proof whose ops cannot attach here (no genesis) is checked, then not kept
        assert s.ingest_fork_proof(proofs[0].encode()).status == "ignored"
        assert s.fork_proofs(ops[0].id) == []
        assert s.ingest_fork_proof(b"junk").status == "invalid"
        s.ingest([op.raw for op in ops])  # the twin's parents arrive: the fork shows
        assert [p.encode() for p in s.fork_proofs(ops[0].id)] == [proofs[0].encode()]
        assert s.status(chain[2].id) == ("void", "author forked")


def test_pending_ops_survive_reopen_and_are_released_later(tmp_path):
    path = tmp_path / "n.db"
    ops = remote_ops(3)
    genesis, rest = ops[0], ops[1:]
    with Store.open(path, HANDLERS) as s:
        out = s.ingest([op.raw for op in rest])
        assert {o.status for o in out} == {"pending"}
        assert s.pending_count() == len(rest) and s.get_op(rest[0].id) is None
    assert table_counts(path)["pending"] == len(rest)
    with Store.open(path, HANDLERS) as s:
        assert s.pending_count() == len(rest)
        assert s.status(rest[0].id) == ("pending", "")
        assert s.ingest([genesis.raw])[0].status == "applied"
        assert s.pending_count() == 0
        assert all(s.status(op.id)[0] == "applied" for op in rest)
    assert table_counts(path)["pending"] == 0


def test_bad_range_in_a_batch_stores_nothing_of_it(tmp_path):
    ops = remote_ops(3)
    chains = [[op.raw for op in ops if op.author == bytes(k.verify_key)] for k in KEYS[1:3]]
    broken = [chains[1][0], chains[1][2]]  # seq 2 missing
    with Store.open(tmp_path / "n.db", HANDLERS) as s:
        s.ingest([ops[0].raw])
        good, bad = s.ingest_ranges([chains[0][:1], broken])
        assert {o.status for o in good} <= {"applied", "pending"}
        assert {(o.status, o.reason) for o in bad} == {("invalid", "chain_broken")}
        assert bytes(KEYS[2].verify_key) not in s.heights(ops[0].id)
        assert s.pending_count() == sum(o.status == "pending" for o in good)


def test_not_a_store_file(tmp_path):
    from node.store import StoreError

    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store.open(path, HANDLERS)


def test_mixed_batch_keeps_order_and_rejects_only_the_bad(tmp_path):
    ops = remote_ops(2)
    m = cbor2.loads(ops[1].raw)
    m["sig"] = bytes(64)
    batch = [ops[0].raw, canonical(m), b"junk", ops[2].raw, ops[0].raw, ops[1].raw]
    with Store.open(tmp_path / "n.db", HANDLERS) as s:
        out = s.ingest(batch)
        assert [(o.status, o.reason) for o in out[:3]] == [
            ("applied", ""),
            ("invalid", "bad_signature"),
            ("invalid", "malformed"),
        ]
        # ops[2] names ops[1] as a dep: it waits, and the last op of the batch releases it
        assert [o.status for o in out[3:]] == ["pending", "duplicate", "applied"]
        assert s.status(ops[2].id) == ("applied", "") and s.pending_count() == 0
        assert [o.op_id for o in out[3:]] == [ops[2].id, ops[0].id, ops[1].id]


def test_one_writer_per_file(tmp_path):
    from node.store import StoreError

    path = tmp_path / "n.db"
    first = Store.open(path, HANDLERS)
    with pytest.raises(StoreError, match="in use"):
        Store.open(path, HANDLERS)
    first.close()
    Store.open(path, HANDLERS).close()  # released on close


def test_ranges_of_one_batch_apply_in_causal_order_whatever_their_order(tmp_path):
    """A sync batch holds one run per author; an op naming another run's op as a dep applies
    at once (lamport order across runs), not after a stay in the pending area."""
    from tests.factory import history

    cid, ops = history(4, 40, seed=3)
    runs: dict[bytes, list] = {}
    for op in ops:
        runs.setdefault(op.author, []).append(op.raw)
    with Store.open(tmp_path / "n.db", {}) as s:
        results = s.ingest_ranges(list(runs.values())[::-1])  # the genesis author's run last
        assert [[o.status for o in r] for r in results] == [
            ["applied"] * len(r) for r in list(runs.values())[::-1]
        ]
        assert s.pending_count() == 0
        assert sum(h[0] for h in s.heights(cid).values()) == len(ops)
