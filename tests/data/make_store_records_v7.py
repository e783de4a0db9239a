"""Writes ``store_records_v7.db``: a records store as the node of schema 7 wrote it (before
contribution rows counted their verdicts and contributions had summaries). Run on that commit
(92d0996) from the repository root:

    PYTHONPATH=.:tests python tests/data/make_store_records_v7.py

Work recorded, corrected and retracted; attested by several members, some of whom change
their verdict, some on a version that a correction then replaced: every case of the count."""

from pathlib import Path

from test_records_support import T0, World

from node.crdt.records import HANDLERS
from node.store import Store

OUT = Path(__file__).parent / "store_records_v7.db"
w = World({"name": "c", "attestation": {"confirmations": 2, "max_disputes": 0}})
w.join(1, 2, 3, 4, 5)
done = [
    w.ok(who, "contribution.record", {"action": "work", "effort_minutes": 30 + i, "at": T0 + i})
    for i, who in enumerate([1, 2, 3, 3, 4, 5, 5])
]


def attest(who, i, verdict):
    w.ok(
        who, "attestation.set", {"contribution": done[i].id, "verdict": verdict}, deps=[done[i].id]
    )


for who, i in [(2, 0), (3, 0), (1, 1), (4, 1), (5, 1), (1, 2), (2, 3), (4, 3), (1, 5)]:
    attest(who, i, "confirm")
attest(5, 1, "dispute")  # a member changes their mind
attest(4, 3, "dispute")
attest(4, 3, "confirm")  # and back
w.ok(
    3, "contribution.correct", {"id": done[2].id, "set": {"effort_minutes": 90}}, deps=[done[2].id]
)
attest(2, 2, "confirm")  # on the corrected version
w.ok(5, "contribution.correct", {"id": done[5].id, "retract": True}, deps=[done[5].id])
OUT.unlink(missing_ok=True)
with Store.open(OUT, HANDLERS) as store:
    store.ingest([op.raw for op in w.ops])
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(OUT, len(w.ops), "ops")
