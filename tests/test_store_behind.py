"""Op rows written behind (``node/store/writer.py``): inside a span, a batch's op rows are
inserted by one statement on a writer thread while the caller goes on.

What must hold: the rows are exactly those the synchronous insert writes (same order, same
columns, rejected ops and their reasons included), so the file and the state are the same; a
failing insert undoes its batch alone (the span's earlier batches stay), the store reloads its
replica, and the next call says so (``WriteFailed``); ingesting the batch again converges.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.crdt.op import GENESIS_KIND, op_id
from node.crdt.state import Rejected
from node.store import Store
from node.store.flush import BEHIND_MIN
from node.store.verify import cores
from node.store.writer import WriteFailed
from tests.factory import history, ops_in_file

BATCH = BEHIND_MIN + 6

pytestmark = pytest.mark.skipif(
    cores() < 2, reason="rows are written behind only with a second core"
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


_, HISTORY = history(6, 4 * BATCH, seed=11)


def ingest_in_batches(path, edges, ranges, behind):
    """HISTORY in one span, cut at ``edges``: op by op or as per-author ranges."""
    handed = []  # batches whose rows went behind
    with Store.open(path, HANDLERS) as store:
        store._behind = behind
        run = store._db.behind
        store._db.behind = lambda steps, undo: handed.append(1) or run(steps, undo)
        with store.batched():
            for a, b in zip(edges, edges[1:], strict=False):
                batch = HISTORY[a:b]
                if ranges:  # each author's ops of the batch as one range
                    runs: dict[bytes, list[bytes]] = {}
                    for op in batch:
                        runs.setdefault(op.author, []).append(op.raw)
                    store.ingest_ranges(list(runs.values()))
                else:
                    store.ingest([op.raw for op in batch])
        return sorted(store.state.items()), len(handed)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(1, len(HISTORY) - 1), max_size=8), ranges=st.booleans())
def test_any_batching_writes_the_rows_a_store_writes_at_once(cuts, ranges):
    """Batches above and below BEHIND_MIN, given op by op or as per-author ranges, in one
    span: the same rows, in the same order, and the same state as the same calls writing at
    once."""
    edges = [0, *sorted(set(cuts)), len(HISTORY)]
    with tempfile.TemporaryDirectory() as tmp:
        behind, handed = ingest_in_batches(Path(tmp) / "behind.db", edges, ranges, True)
        at_once, none = ingest_in_batches(Path(tmp) / "at_once.db", edges, ranges, False)
        assert behind == at_once
        assert none == 0
        if any(b - a >= BEHIND_MIN for a, b in zip(edges[1:], edges[2:], strict=False)):
            assert handed > 0  # a batch after the span's first was big enough
        assert rows(Path(tmp) / "behind.db") == rows(Path(tmp) / "at_once.db")
        assert len(rows(Path(tmp) / "behind.db")) == len(HISTORY)


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


def state_tables(path):
    db = sqlite3.connect(path)
    try:
        return {
            t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
            for t in ("state_order", "state_summary")
        }
    finally:
        db.close()


def test_records_rows_written_behind_are_the_rows_written_at_once(tmp_path, behind_calls):
    """The records workload (ordered and summarized tables, upserts and deletes, keys of text
    and of bytes) in batches of 300 in one span: its state rows written behind give the same
    state, list index and summaries as the same batches written at once."""
    from bench.records import workload
    from node.crdt import records

    _, ops, _ = workload(3_000, seed=5)
    raws = [op.raw for op in ops]
    out = {}
    for name, behind in (("behind", True), ("at_once", False)):
        with Store.open(tmp_path / f"{name}.db", records.HANDLERS) as store:
            store._behind = behind
            with store.batched():
                for i in range(0, len(raws), 300):
                    store.ingest(raws[i : i + 300])
            out[name] = sorted(store.state.items())
    assert len(behind_calls) == len(range(0, len(raws), 300)) - 1
    assert out["behind"] == out["at_once"]
    assert state_tables(tmp_path / "behind.db") == state_tables(tmp_path / "at_once.db")
    assert rows(tmp_path / "behind.db") == rows(tmp_path / "at_once.db")
