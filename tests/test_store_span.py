"""Commit spans (``Store.batched``): the batches of a sync session share one commit.

What must hold: inside a span the store reads its own writes while the file (another
connection) shows the last commit; the span commits when the last ``batched()`` ends, once it
holds ``SPAN_OPS`` ops or is ``SPAN_SECONDS`` old (``commit_due`` too), and before a local
op's durable commit; a batch that fails inside is undone alone (a savepoint), so ingesting
again gives the state of a store that never grouped a commit. (A
SIGKILL inside a span is in ``test_store_crash.py``.)
"""

from __future__ import annotations

import sqlite3

import pytest

from node.crdt.op import GENESIS_KIND
from node.store import Store
from node.store import store as store_module
from tests.factory import history, key, ops_in_file, put_handler

BATCH = 20


def note(op, ctx):
    """Rows that depend on every op: a count per author and the latest note's ``i``."""
    ctx.state.put("count", op.author, ctx.state.get("count", op.author, 0) + 1)
    latest = ctx.state.get("latest", b"", None)
    if latest is None or latest["order"] < list(op.order_key):
        ctx.state.put("latest", b"", {"i": op.body["i"], "order": list(op.order_key)})


HANDLERS = {GENESIS_KIND: lambda op, ctx: None, "note": note, "put": put_handler}


def logged(store: Store, community: bytes) -> int:
    return sum(h[0] for h in store.heights(community).values())


@pytest.fixture
def world(tmp_path):
    community, ops = history(4, 6 * BATCH - 1, seed=3)  # the genesis and 119 notes
    return tmp_path / "node.db", community, [op.raw for op in ops]


def batches(raws):
    return [raws[i : i + BATCH] for i in range(0, len(raws), BATCH)]


def test_a_span_reads_its_own_writes_and_commits_when_the_last_batched_ends(world):
    path, community, raws = world
    with Store.open(path, HANDLERS) as store:
        with store.batched():
            with store.batched():  # a second session at the same time
                for batch in batches(raws)[:3]:
                    store.ingest(batch)
            assert logged(store, community) == 3 * BATCH
            assert ops_in_file(path) == 0  # one session still runs: nothing committed
            for batch in batches(raws)[3:]:
                store.ingest(batch)
            assert ops_in_file(path) == 0
        assert ops_in_file(path) == len(raws)
        state = sorted(store.state.items())
    with Store.open(path, HANDLERS) as again:
        assert sorted(again.state.items()) == state
        assert logged(again, community) == len(raws)


def test_a_span_commits_once_it_holds_span_ops(world, monkeypatch):
    path, community, raws = world
    monkeypatch.setattr(store_module, "SPAN_OPS", 2 * BATCH)
    with Store.open(path, HANDLERS) as store, store.batched():
        seen = []
        for batch in batches(raws):
            store.ingest(batch)
            seen.append(ops_in_file(path))
        # committed after every second batch: the span reached 2 x BATCH ops
        assert seen == [0, 40, 40, 80, 80, 120]


def test_an_old_span_commits_with_the_next_batch_or_commit_due(world):
    path, community, raws = world
    now = [0.0]
    with Store.open(path, HANDLERS) as store:
        store._clock = lambda: now[0]
        with store.batched():
            store.ingest(batches(raws)[0])
            store.commit_due()  # young: stays open
            assert ops_in_file(path) == 0
            now[0] += store_module.SPAN_SECONDS
            store.ingest(batches(raws)[1])  # the span is old: this batch commits it
            assert ops_in_file(path) == 2 * BATCH
            store.ingest(batches(raws)[2])  # a new span
            assert ops_in_file(path) == 2 * BATCH
            now[0] += store_module.SPAN_SECONDS
            store.commit_due()  # a quiet session: the daemon's tick commits
            assert ops_in_file(path) == 3 * BATCH


def test_lingering_calls_share_a_span_until_they_stop(world):
    """An import through the control API: no ``batched()`` around its calls, each asks the
    store to linger (``Store.linger``); the span commits once a call no longer falls inside
    the window, at the daemon's tick (``commit_due``) or on close."""
    path, community, raws = world
    now = [0.0]
    with Store.open(path, HANDLERS) as store:
        store._clock = lambda: now[0]
        for batch in batches(raws)[:3]:
            store.linger(2.0)
            store.ingest(batch)
            now[0] += 1.0
        assert ops_in_file(path) == 0  # each call came within 2 s of the last
        store.commit_due()
        assert ops_in_file(path) == 0
        now[0] += 1.0  # quiet for 2 s
        store.commit_due()
        assert ops_in_file(path) == 3 * BATCH
        store.ingest(batches(raws)[3])  # no linger asked: committed at once
        assert ops_in_file(path) == 4 * BATCH
        store.linger(2.0)
        store.ingest(batches(raws)[4])
    assert ops_in_file(path) == 5 * BATCH  # closed: committed


def test_a_local_op_inside_a_span_is_durable_with_everything_before_it(world):
    path, community, raws = world
    with Store.open(path, HANDLERS) as store, store.batched():
        store.ingest(batches(raws)[0])
        store.ingest(batches(raws)[1])
        op = store.append(key(9), community, "put", {"name": "x", "value": 1})
        assert ops_in_file(path) == 2 * BATCH + 1  # the span, then the local op
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*) FROM ops WHERE id = ?", (op.id,)).fetchone()[0] == 1
        db.close()
        store.ingest(batches(raws)[2])
        assert ops_in_file(path) == 2 * BATCH + 1


def test_a_failing_batch_is_undone_alone_and_ingesting_again_converges(world, tmp_path):
    path, community, raws = world
    with Store.open(path, HANDLERS) as store:
        with store.batched():
            store.ingest(batches(raws)[0])  # the span's first transaction
            store.ingest(batches(raws)[1])
            flush = store._flush

            def failing(behind=False):
                raise sqlite3.OperationalError("disk I/O error")

            store._flush = failing  # the third batch's writes fail
            with pytest.raises(sqlite3.OperationalError):
                store.ingest(batches(raws)[2])
            store._flush = flush
            # that batch is gone, in memory as in the span; the span's others stay
            assert logged(store, community) == 2 * BATCH
            assert ops_in_file(path) == 0
            store.ingest(batches(raws)[2])  # again, in the same span
            assert logged(store, community) == 3 * BATCH
            assert ops_in_file(path) == 0
        assert ops_in_file(path) == 3 * BATCH
        with store.batched():
            store._flush = failing  # a failing first transaction: nothing before it to keep
            with pytest.raises(sqlite3.OperationalError):
                store.ingest(batches(raws)[3])
            store._flush = flush
            assert logged(store, community) == ops_in_file(path) == 3 * BATCH
            for batch in batches(raws):
                store.ingest(batch)
        state = sorted(store.state.items())
        heights = store.heights(community)
    with Store.open(tmp_path / "plain.db", HANDLERS) as plain:
        for batch in batches(raws):
            plain.ingest(batch)
        assert sorted(plain.state.items()) == state
        assert plain.heights(community) == heights


def test_closing_inside_a_span_commits_it(world):
    path, community, raws = world
    store = Store.open(path, HANDLERS)
    with store.batched():
        store.ingest(batches(raws)[0])
        store.close()
    assert ops_in_file(path) == BATCH
