"""Writes tests/data/store_v5.db. Run on the schema 5 commit (096600d), from its checkout:
PYTHONPATH=. python tests/data/make_store_v5.py tests/data/store_v5.db
(and with ``--founder-only`` tests/data/store_v5_founder.db: the second community alone)

A community where member X split its chain twice (at seq 8, then at seq 4: schema 5 kept the
proof at 4 and voided X from there), member Y was sent a proof whose two ops name different
prevs (schema 5 kept it and voided Y from seq 4), and a stranger split at seq 1. In a
second community, its founder signed an op at seq 1 beside the genesis: schema 5 voided the
genesis, and with it that community."""

import sqlite3
import sys

import nacl.signing

from node.crdt.chain import ForkProof
from node.crdt.op import sign_op
from node.store import Store

F, X, Y, S = (nacl.signing.SigningKey(bytes([i]) * 32) for i in (1, 2, 3, 4))


def twin(k, op, name):
    return sign_op(k, community=op.community, seq=op.seq, prev=op.prev, deps=op.deps,
                   lamport=op.lamport, ts=op.ts, kind=op.kind, body={"display_name": name})  # fmt: skip


def splits_and_a_graft(s: Store) -> None:
    """X splits at 8 then 4, Y gets a proof that is no split, a stranger splits at seq 1."""
    g = s.create_community(F, {"name": "v5", "membership": {"rule": "open"}})
    c = g.id
    xs = [s.append(X, c, "member.join", {})]
    ys = [s.append(Y, c, "member.join", {})]
    for i in range(7):
        xs.append(s.append(X, c, "profile.set", {"display_name": f"x{i}"}))
    for i in range(3):
        ys.append(s.append(Y, c, "profile.set", {"display_name": f"y{i}"}))
    s.append(F, c, "profile.set", {"display_name": "founder"})
    print([o.status for o in s.ingest([twin(X, xs[7], "x twin at 8").raw])])
    print([o.status for o in s.ingest([twin(X, xs[3], "x twin at 4").raw])])
    y3 = twin(Y, ys[2], "y twin at 3")  # never sent: the graft below cannot attach
    y4 = sign_op(Y, community=c, seq=4, prev=y3.id, deps=[], lamport=y3.lamport + 1, ts=0,
                 kind="profile.set", body={"display_name": "on the twin"})  # fmt: skip
    print(s.ingest_fork_proofs([ForkProof.of(ys[3], y4).encode()]))
    a = s.replica.compose(S, c, "profile.set", {"display_name": "s"})
    print([o.status for o in s.ingest([a.raw, twin(S, a, "s twin").raw])])


def founder_beside_genesis(s: Store) -> None:
    """A community whose founder signs an op at seq 1 beside the genesis."""
    g2 = s.create_community(S, {"name": "second", "membership": {"rule": "open"}})
    s.append(F, g2.id, "member.join", {})
    beside = sign_op(S, community=g2.id, seq=1, prev=None, deps=[g2.id], lamport=2, ts=0,
                     kind="profile.set", body={"display_name": "beside"})  # fmt: skip
    print([o.status for o in s.ingest([beside.raw])])


path = sys.argv[1]
with Store.open(path) as s:
    if "--founder-only" not in sys.argv:
        splits_and_a_graft(s)
    founder_beside_genesis(s)
    print(s._db.execute("select community, author, seq from forks").fetchall())
    print(s._db.execute("select status, count(*) from ops group by status").fetchall())
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=DELETE")
db.execute("VACUUM")
print(db.execute("select value from meta where key='schema'").fetchone())
