"""Writing what a :class:`Replica` reports into the store's open transaction."""

from __future__ import annotations

import sqlite3

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
_UPSERT_STATE = "INSERT OR REPLACE INTO state (tbl, key, value) VALUES (?, ?, ?)"
_MISSING = object()


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
    puts, deletes = [], []
    for tbl, key in dirty:
        value = state.table(tbl).get(key, _MISSING)
        if value is _MISSING:
            deletes.append((tbl, key))
        else:
            puts.append((tbl, key, cbor2.dumps(value, canonical=True)))
    db.executemany("DELETE FROM state WHERE tbl = ? AND key = ?", deletes)
    db.executemany(_UPSERT_STATE, puts)


def _rewrite_state(db, replica, chains) -> None:
    """After a fork the replica rebuilt its state from the log: replace every state row and
    recompute every op's status (void from the fork seq on, rejections as re-judged)."""
    state = replica.state
    state.take_dirty()
    db.execute("DELETE FROM state")
    db.executemany(
        _UPSERT_STATE,
        [(tbl, key, cbor2.dumps(v, canonical=True)) for tbl, key, v in state.items()],
    )
    db.execute("UPDATE ops SET status = 'applied', reason = '' WHERE status != 'applied'")
    for proof in replica.forks.values():
        db.execute(
            "UPDATE ops SET status = 'void', reason = 'author forked' WHERE chain = ? AND seq >= ?",
            (chains.ensure(proof.community, proof.author), proof.seq),
        )
    rows = []
    for oid, reason in replica.rejections.items():
        meta = replica.metas[oid]
        rows.append((reason, chains.ensure(meta.community, meta.author), meta.seq))
    db.executemany(
        "UPDATE ops SET status = 'rejected', reason = ? WHERE chain = ? AND seq = ?", rows
    )
