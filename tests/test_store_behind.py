"""Op rows written behind (``node/store/writer.py``): inside a span, a batch's op rows are
inserted by one statement on a writer thread while the caller goes on.

What must hold: the rows are exactly those the synchronous insert writes (same order, same
columns, rejected ops and their reasons included), so the file and the state are the same; a
failing insert undoes its batch alone (the span's earlier batches stay), the store reloads its
replica, and the next call says so (``WriteFailed``); ingesting the batch again converges.
"""

from __future__ import annotations

import sqlite3

import pytest

from node.crdt.op import GENESIS_KIND, op_id
from node.crdt.state import Rejected
from node.store import Store
from node.store import store as store_module
from node.store.flush import BEHIND_MIN
from node.store.writer import Connection, WriteFailed
from tests.factory import history, ops_in_file

BATCH = BEHIND_MIN + 6

pytestmark = pytest.mark.skipif(
    store_module._cores() < 2, reason="rows are written behind only with a second core"
)

ODD = 'odd "one" \\ é'  # a reason the JSON of the rows must carry unharmed


def note(op, ctx):
    if op.body["i"] % 7 == 3:
        raise Rejected(ODD)
    ctx.state.put("count", op.author, ctx.state.get("count", op.author, 0) + 1)


HANDLERS = {GENESIS_KIND: lambda op, ctx: None, "note": note}


@pytest.fixture
def raws():
    _, ops = history(5, 5 * BATCH - 1, seed=7)
    return [op.raw for op in ops]


def batches(raws):
    return [raws[i : i + BATCH] for i in range(0, len(raws), BATCH)]


def rows(path):
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT rowid, id, chain, seq, lamport, status, reason, raw FROM ops ORDER BY rowid"
        ).fetchall()
    finally:
        db.close()


@pytest.fixture
def behind_calls(monkeypatch):
    calls = []
    run = Connection.behind

    def spy(self, steps, undo):
        calls.append(len(steps))
        return run(self, steps, undo)

    monkeypatch.setattr(Connection, "behind", spy)
    return calls


def test_rows_written_behind_are_the_rows_written_at_once(raws, tmp_path, behind_calls):
    with Store.open(tmp_path / "behind.db", HANDLERS) as store:
        with store.batched():
            for k, batch in enumerate(batches(raws), 1):
                store.ingest(batch)
                # a read right after waits for the rows (the store's connection sees them)
                count = store._db.execute("SELECT count(*) FROM ops").fetchone()[0]
                assert count == min(k * BATCH, len(raws))
        state = sorted(store.state.items())
    # every transaction after the span's first wrote its rows behind
    assert len(behind_calls) == len(batches(raws)) - 1
    with Store.open(tmp_path / "at_once.db", HANDLERS) as store:
        store._behind = False
        with store.batched():
            for batch in batches(raws):
                store.ingest(batch)
        assert sorted(store.state.items()) == state
    assert len(behind_calls) == len(batches(raws)) - 1  # none more
    behind, at_once = rows(tmp_path / "behind.db"), rows(tmp_path / "at_once.db")
    assert len(behind) == len(raws)
    assert behind == at_once
    assert {r[5] for r in behind} == {"a", "r"}
    assert {r[6] for r in behind if r[5] == "r"} == {ODD}


def test_a_failing_write_behind_undoes_its_batch_alone_and_the_next_call_says_so(
    raws, tmp_path, behind_calls
):
    path = tmp_path / "node.db"
    third = batches(raws)[2]
    with Store.open(path, HANDLERS) as store:
        with store.batched():
            store.ingest(batches(raws)[0])  # the span's first transaction: at once
            store.ingest(batches(raws)[1])  # behind
            community = store.communities()[0]
            # a real failure of SQLite on the writer thread: the third batch's first op
            store._db.execute(
                "CREATE TEMP TRIGGER boom BEFORE INSERT ON ops"
                f" WHEN NEW.id = x'{op_id(third[0]).hex()}'"
                " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
            store.ingest(third)  # returns: its rows are being written
            assert len(behind_calls) == 2
            with pytest.raises(WriteFailed, match="disk full"):
                store.ingest(batches(raws)[3])  # the next call waits, and says so
            # the third batch is gone, in memory as in the span; the span's others stay
            assert sum(h[0] for h in store.heights(community).values()) == 2 * BATCH
            assert store._db.execute("SELECT count(*) FROM ops").fetchone()[0] == 2 * BATCH
            assert ops_in_file(path) == 0
            store._db.execute("DROP TRIGGER boom")
            for batch in batches(raws)[2:]:
                store.ingest(batch)
        state = sorted(store.state.items())
        heights = store.heights(community)
    assert ops_in_file(path) == len(raws)
    with Store.open(tmp_path / "plain.db", HANDLERS) as plain:
        for batch in batches(raws):
            plain.ingest(batch)
        assert sorted(plain.state.items()) == state
        assert plain.heights(community) == heights
    assert rows(path) == rows(tmp_path / "plain.db")
