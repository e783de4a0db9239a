"""Writing what a :class:`Replica` reports into the store's open transaction."""

from __future__ import annotations

import sqlite3
import weakref

import cbor2

from node.crdt.replica import REJECTED, Replica

from .schema import Chains

_INSERT_OP = (
    "INSERT INTO ops (id, chain, seq, lamport, kind, parents, status, reason, raw)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_HEAD = (
    "INSERT OR REPLACE INTO heads (community, author, seq, id, lamport) VALUES (?,?,?,?,?)"
)
_INSERT_STATE = "INSERT INTO state (id, tbl, key, value) VALUES (?, ?, ?, ?)"
_UPDATE_STATE = "UPDATE state SET value = ? WHERE id = ?"
_DELETE_STATE = "DELETE FROM state WHERE id = ?"
_MISSING = object()
# State values are stored with plain (not canonical) CBOR: the bytes never leave this node
# and are only ever decoded back, and canonical key sorting doubled the encoding cost. Plain
# encoding also keeps each dict's key order as it was in memory across a restart.
_encode = cbor2.dumps


class StateRows:
    """Where each state row lives in the ``state`` table: (tbl, key) -> row id (see the
    schema's note: rows are numbered so that new rows go at the end of the table).

    One per :class:`State` object. The store makes a new State whenever it reloads from the
    file (after a rollback too), so a map can never outlive the rows it describes."""

    def __init__(self, db: sqlite3.Connection):
        self.ids: dict[str, dict] = {}
        last = 0
        for rid, tbl, key in db.execute("SELECT id, tbl, key FROM state"):
            self.ids.setdefault(tbl, {})[key] = rid
            last = max(last, rid)
        self.next = last + 1


_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # State -> StateRows


def write_changes(db: sqlite3.Connection, replica: Replica, chains: Chains) -> None:
    changes = replica.take_changes()
    if changes.logged:
        _write_ops(db, replica, chains, changes.logged)
    if changes.pending_added or changes.pending_removed:
        _write_pending(db, replica, changes.pending_added, changes.pending_removed)
    for proof in changes.forks:
        db.execute(
            "INSERT OR REPLACE INTO forks (community, author, seq, proof) VALUES (?, ?, ?, ?)",
            (proof.community, proof.author, proof.seq, proof.encode()),
        )
    if changes.rebuilt:
        _rewrite_state(db, replica, chains)
    else:
        _write_dirty_state(db, replica)
        if changes.restatus:
            _write_statuses(db, replica, chains, changes.restatus)


def _write_ops(db, replica, chains, logged) -> None:
    rejections = replica.rejections
    chain_ids = chains.ids
    rows = []
    touched = set()
    metas = replica.metas
    join = b"".join
    for op, outcome in logged:
        meta = metas[op.id]  # the replica's view of the op: community and parents ready-made
        key = (meta.community, meta.author)
        chain = chain_ids.get(key)
        if chain is None:
            chain = chains.ensure(*key)
        parents = join(meta.parents)
        reason = outcome.reason
        if outcome.status == REJECTED:
            # the short code, as a rebuild would record it (Outcome may carry more detail)
            reason = rejections.get(op.id, reason)
        rows.append(
            (op.id, chain, op.seq, op.lamport, op.kind, parents, outcome.status, reason, op.raw)
        )
        touched.add(key)
    db.executemany(_INSERT_OP, rows)
    heads = replica.heads
    db.executemany(
        _UPSERT_HEAD,
        [(c, a, h.seq, h.id, h.lamport) for c, a in touched for h in (heads[c][a],)],
    )


def _write_pending(db, replica, added, removed) -> None:
    raws = {op.id: op.raw for op in added}
    keep, drop = [], []
    for oid in raws.keys() | set(removed):
        # still pending = known to the replica but not in its log
        if oid in raws and replica.has(oid) and replica.meta(oid) is None:
            keep.append((oid, raws[oid]))
        else:
            drop.append((oid,))
    db.executemany("DELETE FROM pending WHERE id = ?", drop)
    db.executemany("INSERT OR REPLACE INTO pending (id, raw) VALUES (?, ?)", keep)


def _write_dirty_state(db, replica) -> None:
    state = replica.state
    dirty = state.take_dirty()
    if not dirty:
        return
    rows = _ROWS.get(state)
    if rows is None:
        rows = _ROWS[state] = StateRows(db)
    inserts, updates, deletes = [], [], []
    row_ids = rows.ids
    for tbl, key in dirty:
        value = state.table(tbl).get(key, _MISSING)
        ids = row_ids.get(tbl)
        if ids is None:
            ids = row_ids[tbl] = {}
        rid = ids.get(key)
        if value is _MISSING:
            if rid is not None:
                deletes.append((ids.pop(key),))
        elif rid is None:
            rid = ids[key] = rows.next
            rows.next += 1
            inserts.append((rid, tbl, key, _encode(value)))
        else:
            updates.append((_encode(value), rid))
    updates.sort(key=lambda u: u[1])  # in page order
    db.executemany(_DELETE_STATE, deletes)
    db.executemany(_UPDATE_STATE, updates)
    db.executemany(_INSERT_STATE, inserts)


def _write_statuses(db, replica, chains, restatus) -> None:
    """Statuses a fork proof or a one-community rebuild changed (the last word per op)."""
    metas = replica.metas
    last = {oid: (status, reason) for oid, status, reason in restatus}
    rows = []
    for oid, (status, reason) in last.items():
        meta = metas[oid]
        rows.append((status, reason, chains.ensure(meta.community, meta.author), meta.seq, oid))
    db.executemany(
        "UPDATE ops SET status = ?, reason = ? WHERE chain = ? AND seq = ? AND id = ?", rows
    )


def _rewrite_state(db, replica, chains) -> None:
    """After a fork the replica rebuilt its state from the log: replace every state row and
    recompute every op's status (void from the fork seq on, rejections as re-judged)."""
    state = replica.state
    state.take_dirty()
    db.execute("DELETE FROM state")
    rows = _ROWS[state] = StateRows(db)  # empty now
    puts = []
    for tbl, key, value in state.items():
        rows.ids.setdefault(tbl, {})[key] = rows.next
        puts.append((rows.next, tbl, key, _encode(value)))
        rows.next += 1
    db.executemany(_INSERT_STATE, puts)
    db.execute("UPDATE ops SET status = 'applied', reason = '' WHERE status != 'applied'")
    for proof in replica.forks.values():
        db.execute(
            "UPDATE ops SET status = 'void', reason = 'author forked' WHERE chain = ? AND seq >= ?",
            (chains.ensure(proof.community, proof.author), proof.seq),
        )
    for (community, author), cut in replica.cuts.items():
        db.execute(
            "UPDATE ops SET status = 'void', reason = 'author removed'"
            " WHERE chain = ? AND seq > ? AND status = 'applied'",
            (chains.ensure(community, author), cut),
        )
    rows = []
    for oid, reason in replica.rejections.items():
        meta = replica.metas[oid]
        rows.append((reason, chains.ensure(meta.community, meta.author), meta.seq, oid))
    db.executemany(
        "UPDATE ops SET status = 'rejected', reason = ? WHERE chain = ? AND seq = ? AND id = ?",
        rows,
    )
