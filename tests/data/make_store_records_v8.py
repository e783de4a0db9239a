"""Writes ``store_records_v8.db``: a records store as the node of schema 8 wrote it (before
each member's counted work was kept summed). Run on that commit (4d791ed) from the
repository root:

    PYTHONPATH=.:tests python tests/data/make_store_records_v8.py

Work of several days, recorded, corrected and retracted, one day over the charter's bound per
day; attested by several members, some of whom change their verdict, some on a version that
a correction then replaced."""

from pathlib import Path

from test_records_support import T0, World

from node.crdt.records import HANDLERS
from node.store import Store

OUT = Path(__file__).parent / "store_records_v8.db"
DAY = 86_400_000
CHARTER = {
    "name": "c",
    "attestation": {"confirmations": 2, "max_disputes": 0},
    "contribution": {"max_minutes": 600, "max_minutes_per_day": 100},
}
w = World(CHARTER)
w.ts = T0 + 3 * DAY  # ops signed after the work of three days
w.join(1, 2, 3, 4, 5)
done = [
    w.ok(
        who,
        "contribution.record",
        {"action": "work", "effort_minutes": 30 + 20 * i, "at": T0 + (i % 3) * DAY + i},
    )
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
