"""A store file from before state rows were numbered opens with the same state, and keeps
working (the layout is converted once, on open)."""

import sqlite3

from node.store import Store
from tests.factory import PUT_HANDLERS, history


def _note(op, ctx):
    """Every note leaves a row, so the state table has something to convert."""
    ctx.state.put("note", op.id, {"i": op.body["i"], "author": op.author})


HANDLERS = {**PUT_HANDLERS, "note": _note}
C, OPS = history(3, 60, seed=3)


def _to_keyed_layout(path):
    """Rewrite the state table the way older files stored it: keyed by (tbl, key)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.execute(
        "CREATE TABLE state_old (tbl TEXT NOT NULL, key NOT NULL, value BLOB NOT NULL,"
        " PRIMARY KEY (tbl, key)) WITHOUT ROWID"
    )
    db.execute("INSERT INTO state_old SELECT tbl, key, value FROM state")
    db.execute("DROP TABLE state")
    db.execute("ALTER TABLE state_old RENAME TO state")
    db.execute("COMMIT")
    db.close()


def _rows(store):
    return sorted(store.state.items())


def test_keyed_state_layout_is_converted_on_open(tmp_path):
    path = tmp_path / "store.db"
    with Store.open(path, HANDLERS) as store:
        store.ingest(OPS[:40])
        before = _rows(store)
    assert before, "the workload must leave state rows"
    _to_keyed_layout(path)
    with Store.open(path, HANDLERS) as store:
        assert _rows(store) == before
        store.ingest(OPS[40:])
        after = _rows(store)
    with Store.open(path, HANDLERS) as store:
        assert _rows(store) == after
    fresh = tmp_path / "fresh.db"
    with Store.open(fresh, HANDLERS) as store:
        store.ingest(OPS)
        assert _rows(store) == after
