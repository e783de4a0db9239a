"""Any delivery order, with duplicates, in any batching, gives the same store (real SQLite files).

With a fork (two ops at one author's tip seq) the only thing order may change is *which* twin
is in the log (the other is in the fork proof); both are void either way, so everything else
(state rows, statuses, other heights, the proof itself) must still be identical.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from functools import cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.crdt.replica import Replica
from node.store import Store
from node.store.schema import STATUS_CODES
from tests.factory import keys, twin
from tests.factory import put_handler as register_put

KEYS = keys(4, start=39)


def put_handler(op, ctx):
    register_put(op, ctx)
    total = ctx.state.get("sum", op.author, 0) + op.body["value"]
    ctx.state.put("sum", op.author, total)


HANDLERS = {"community.create": lambda op, ctx: None, "put": put_handler}


@cache
def op_set(seed: int, fork: bool) -> tuple[list[bytes], bytes | None]:
    """Authors writing concurrently on their own replicas, syncing now and then."""
    rnd = random.Random(seed)
    replicas = [Replica(HANDLERS) for _ in KEYS]
    genesis = replicas[0].compose(KEYS[0], b"", "community.create", {"name": "p"})
    for r in replicas:
        r.ingest(genesis)
    ops = [genesis]
    for step in range(30):
        i = rnd.randrange(len(KEYS))
        if rnd.random() < 0.3:
            for op in ops:
                if not replicas[i].has(op.id):
                    replicas[i].ingest(op)
            continue
        body = {"name": rnd.choice("ab"), "value": rnd.randrange(-1, 9)}
        op = replicas[i].compose(KEYS[i], genesis.id, "put", body, ts=step)
        replicas[i].ingest(op)
        ops.append(op)
    forked_author = None
    if fork:
        # KEYS[1] catches up and writes the last op; its twin is the fork. Nobody depends on
        # either, or the order would decide which other ops wait forever.
        r = replicas[1]
        for op in ops:
            if not r.has(op.id):
                r.ingest(op)
        tip = r.compose(KEYS[1], genesis.id, "put", {"name": "a", "value": 4}, ts=99)
        fork = twin(KEYS[1], tip, ts=tip.ts + 1, body={"name": "twin", "value": 3})
        ops += [tip, fork]
        forked_author = tip.author
    return [op.raw for op in ops], forked_author


def contents(path: Path, forked: bytes | None):
    db = sqlite3.connect(path)
    try:
        ops = db.execute(
            "SELECT o.id, c.author, o.seq, o.status, o.reason FROM ops o"
            " JOIN chains c ON o.chain = c.id"
        ).fetchall()
        ops = sorted(
            (r[1], r[2], r[3], r[4]) if r[1] == forked and r[3] == STATUS_CODES["void"] else r
            for r in ops
        )
        heads = sorted(
            (c, a, s, None if a == forked else i, lam)
            for c, a, s, i, lam in db.execute("SELECT * FROM heads")
        )
        return {
            "ops": ops,
            "heads": heads,
            "forks": sorted(db.execute("SELECT * FROM forks").fetchall()),
            "pending": db.execute("SELECT count(*) FROM pending").fetchone()[0],
            "state": sorted(db.execute("SELECT tbl, key, value FROM state").fetchall()),
        }
    finally:
        db.close()


def ingest_all(path: Path, batches: list[list[bytes]]) -> None:
    with Store.open(path, HANDLERS) as store:
        for batch in batches:
            store.ingest(batch)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 4),
    fork=st.booleans(),
    data=st.data(),
)
def test_any_order_with_duplicates_same_store(seed, fork, data):
    raws, forked = op_set(seed, fork)
    order = data.draw(st.permutations(range(len(raws))))
    dups = data.draw(st.lists(st.integers(0, len(raws) - 1), max_size=10))
    delivery = [raws[i] for i in order]
    for d in dups:
        delivery.insert(data.draw(st.integers(0, len(delivery))), raws[d])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(delivery)), max_size=5)))
    batches = [delivery[a:b] for a, b in zip([0, *cuts], [*cuts, len(delivery)], strict=True)]
    with tempfile.TemporaryDirectory() as tmp:
        reference, shuffled = Path(tmp) / "ref.db", Path(tmp) / "shuffled.db"
        ingest_all(reference, [raws])
        ingest_all(shuffled, batches)
        want = contents(reference, forked)
        assert want["pending"] == 0
        assert contents(shuffled, forked) == want
        with Store.open(reference, HANDLERS) as a, Store.open(shuffled, HANDLERS) as b:
            community = a.communities()[0]
            assert b.communities() == [community]
            ha, hb = a.heights(community), b.heights(community)
            assert {k: v[0] for k, v in ha.items()} == {k: v[0] for k, v in hb.items()}
            assert {k: v for k, v in ha.items() if k != forked} == {
                k: v for k, v in hb.items() if k != forked
            }
            assert [p.encode() for p in a.fork_proofs(community)] == [
                p.encode() for p in b.fork_proofs(community)
            ]
            assert bool(a.fork_proofs(community)) == (forked is not None)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 4), data=st.data())
def test_ranges_in_any_author_order_same_store(seed, data):
    """Chain-verified ranges (one signature each), authors in any order, give the same store
    as per-op ingest."""
    raws, _ = op_set(seed, False)
    from node.crdt.op import decode_op

    ops = [decode_op(r) for r in raws]
    authors = sorted({op.author for op in ops})
    order = data.draw(st.permutations(authors))
    with tempfile.TemporaryDirectory() as tmp:
        reference, ranged = Path(tmp) / "ref.db", Path(tmp) / "ranged.db"
        ingest_all(reference, [raws])
        with Store.open(ranged, HANDLERS) as store:
            for _ in range(2):  # ops waiting on other authors are released on the second pass
                for author in order:
                    chain = sorted((op for op in ops if op.author == author), key=lambda o: o.seq)
                    cut = data.draw(st.integers(0, len(chain)))
                    for part in (chain[:cut], chain[cut:]):
                        outcomes = store.ingest_range([op.raw for op in part])
                        assert "invalid" not in {o.status for o in outcomes}
        assert contents(ranged, None) == contents(reference, None)
