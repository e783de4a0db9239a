"""Writing what a :class:`Replica` reports into the store's open transaction."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from node.crdt.replica import REJECTED, Replica

from .schema import STATUS_CODES, Chains
from .writer import Step

INSERT_OP = (
    "INSERT INTO ops (id, chain, seq, lamport, status, reason, raw) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The same rows as one statement (``writer.Connection.behind``): the ops' columns as a JSON
# array of [chain, seq, lamport, status, reason, start, length] per op, their ids and bytes
# each joined into one string; rows enter in the array's order (the log's order).
_INSERT_OPS_AT_ONCE = """
INSERT INTO ops (id, chain, seq, lamport, status, reason, raw)
SELECT substr(:ids, 32 * key + 1, 32), json_extract(value, '$[0]'), json_extract(value, '$[1]'),
    json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),
    substr(:raws, json_extract(value, '$[5]'), json_extract(value, '$[6]'))
FROM json_each(:rows)
"""
# Fewer ops than this are inserted at once: a thread costs ~0.1 ms to start.
BEHIND_MIN = 64
_UPSERT_HEAD = (
    "INSERT OR REPLACE INTO heads (community, author, seq, id, lamport) VALUES (?,?,?,?,?)"
)


def write_changes(
    db: sqlite3.Connection, replica: Replica, chains: Chains, behind: bool = False
) -> tuple[int, Step | None]:
    """Write the replica's changes since the last call: the number of ops logged, and, if
    ``behind`` allows it, the statement that inserts their rows, left for the caller to run
    after everything else (``writer.Connection.behind``; not when a status of this batch's
    ops changes: that update must find their rows)."""
    changes = replica.take_changes()
    behind = behind and len(changes.logged) >= BEHIND_MIN
    behind = behind and not changes.rebuilt and not changes.restatus
    rows = None
    if changes.logged:
        rows = _write_ops(db, replica, chains, changes.logged, behind)
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
    return len(changes.logged), rows


def _write_ops(db, replica, chains, logged, behind: bool) -> Step | None:
    """Insert the logged ops' rows, or (``behind``) return the statement that does; write
    their chains' heads."""
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
    heads = replica.heads
    db.executemany(
        _UPSERT_HEAD,
        [(c, a, h.seq, h.id, h.lamport) for c, a in touched for h in (heads[c][a],)],
    )
    if behind:
        return _INSERT_OPS_AT_ONCE, _at_once(rows)
    db.executemany(INSERT_OP, rows)
    return None


def _at_once(rows: list[tuple]) -> dict[str, Any]:
    """The parameters of ``_INSERT_OPS_AT_ONCE`` for these op rows."""
    cols, start = [], 1  # SQL's substr counts from 1
    for _, chain, seq, lamport, status, reason, raw in rows:
        # a status is one letter; a reason is a rule's code, but JSON-escaped all the same
        why = json.dumps(reason) if reason else '""'
        cols.append(f'[{chain},{seq},{lamport},"{status}",{why},{start},{len(raw)}]')
        start += len(raw)
    return {
        "ids": b"".join(r[0] for r in rows),
        "raws": b"".join(r[6] for r in rows),
        "rows": "[" + ",".join(cols) + "]",
    }


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
