"""Writes tests/data/store_v4.db. Run on the schema 4 commit (38f4f14), from its checkout:
PYTHONPATH=. python tests/data/make_store_v4.py tests/data/store_v4.db"""

import sqlite3
import sys

import nacl.signing

from bench.records import workload
from node.store import Store

cid, ops, _ = workload(700, seed=3)
path = sys.argv[1]
with Store.open(path) as s:
    s.ingest([o.raw for o in ops])
    stranger = nacl.signing.SigningKey(b"\x07" * 32)
    body = {
        "title": "not a member",
        "category": "tools",
        "action": "give",
        "quantity": {"amount": 1, "unit": "item"},
    }
    a = s.replica.compose(stranger, cid, "offer.create", body, ts=ops[-1].ts)
    b = s.replica.compose(stranger, cid, "offer.create", {**body, "title": "twin"}, ts=ops[-1].ts)
    out = s.ingest([a.raw]) + s.ingest([b.raw])
    other = nacl.signing.SigningKey(b"\x09" * 32)
    good = {
        "title": "a ladder",
        "category": "tools/hand/x",
        "action": "lend",
        "geohash": "u33db0",
        "radius_m": 1000,
        "expires": ops[-1].ts + 10**9,
        "quantity": {"amount": 1, "unit": "item"},
    }
    c = s.replica.compose(other, cid, "offer.create", good, ts=ops[-1].ts)
    out += s.ingest([c.raw])
    print([(o.status, o.reason) for o in out])
    print(s._db.execute("select status, count(*) from ops group by status").fetchall())
    s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=DELETE")
db.execute("VACUUM")
print(db.execute("select value from meta where key='schema'").fetchone())
