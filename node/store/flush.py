"""Writing what a :class:`Replica` reports into the store's open transaction."""

from __future__ import annotations

import sqlite3

from node.crdt.replica import REJECTED, Replica

from .schema import STATUS_CODES, Chains

_INSERT_OP = (
    "INSERT INTO ops (id, chain, seq, lamport, status, reason, raw) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_HEAD = (
    "INSERT OR REPLACE INTO heads (community, author, seq, id, lamport) VALUES (?,?,?,?,?)"
)


def write_changes(db: sqlite3.Connection, replica: Replica, chains: Chains) -> int:
    """Write the replica's changes since the last call; the number of ops logged."""
    changes = replica.take_changes()
    if changes.logged:
        _write_ops(db, replica, chains, changes.logged)
    if changes.pending_added or changes.pending_removed:
        _write_pending(db, replica, changes.pending_added, changes.pending_removed)
    for proof in changes.forks:
        db.execute(
            "INSERT OR IGNORE INTO forks (community, author, seq, proof) VALUES (?, ?, ?, ?)",
            (proof.community, proof.author, proof.seq, proof.encode()),
        )
    replica.state.save()  # the rows these ops wrote (``rows.SqlState``)
    if changes.rebuilt:  # every op that did not apply is in ``restatus``
        db.execute("UPDATE ops SET status = 'a', reason = '' WHERE status != 'a'")  # applied
    if changes.restatus:
        _write_statuses(db, replica, chains, changes.restatus)
    return len(changes.logged)


def _write_ops(db, replica, chains, logged) -> None:
    rejections = replica.rejections
    chain_ids = chains.ids
    rows = []
    touched = set()
    for op, outcome in logged:
        key = (op.community_id, op.author)
        chain = chain_ids.get(key)
        if chain is None:
            chain = chains.ensure(*key)
        reason = outcome.reason
        if outcome.status == REJECTED:
            # the short code, as a rebuild would record it (Outcome may carry more detail)
            reason = rejections.get(op.id, reason)
        rows.append(
            (op.id, chain, op.seq, op.lamport, STATUS_CODES[outcome.status], reason, op.raw)
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


def _write_statuses(db, replica, chains, restatus) -> None:
    """Statuses a fork proof or a one-community rebuild changed (the last word per op)."""
    metas = replica.metas
    last = {oid: (status, reason) for oid, status, reason in restatus}
    rows = []
    for oid, (status, reason) in last.items():
        meta = metas[oid]
        chain = chains.ensure(meta.community, meta.author)
        rows.append((STATUS_CODES[status], reason, chain, meta.seq, oid))
    db.executemany(
        "UPDATE ops SET status = ?, reason = ? WHERE chain = ? AND seq = ? AND id = ?", rows
    )
