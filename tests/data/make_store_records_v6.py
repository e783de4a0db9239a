"""Writes ``store_records_v6.db``: a records store as the node of schema 6 with order version
2 wrote it (before contributions were filed under their project and skill, and projects
under their team). Run on that commit (0f6f01c) from the repository root:

    PYTHONPATH=.:tests python tests/data/make_store_records_v6.py

Members vouch, list skills, run projects alone and in teams, record work with and without a
project or a skill, correct it and attest it: every branch of the inbox's attestation rule."""

from pathlib import Path

from test_records_support import PUB, T0, World

from node.crdt.records import HANDLERS
from node.store import Store

OUT = Path(__file__).parent / "store_records_v6.db"
w = World({"name": "c", "attestation": {"confirmations": 2, "max_disputes": 0}})
w.join(1, 2, 3, 4, 5)
w.ok(1, "member.vouch", {"member": PUB[3]})
w.ok(2, "profile.set", {"skills": ["carpentry"]})
w.ok(4, "profile.set", {"skills": ["cooking", "carpentry"]})
team = w.ok(1, "project.create", {"name": "shed", "maintainers": [PUB[2]]})
alone = w.ok(3, "project.create", {"name": "garden", "maintainers": []})
later = w.ok(5, "project.create", {"name": "kitchen", "maintainers": []})
work = {"action": "work", "effort_minutes": 60}
done = []
for i, (who, project, skill) in enumerate(
    [(3, team, None), (3, alone, None), (3, None, "carpentry"), (5, later, "cooking"),
     (5, None, None), (2, alone, None), (4, None, "carpentry"), (3, alone, "cooking")]
):  # fmt: skip
    body = {**work, "at": T0 + i}
    if project is not None:
        body["project"] = project.id
    if skill is not None:
        body["skill"] = skill
    done.append(w.ok(who, "contribution.record", body, deps=[project.id] if project else ()))
w.ok(5, "project.update", {"id": later.id, "set": {"maintainers": [PUB[1]]}}, deps=[later.id])
w.ok(3, "contribution.correct", {"id": done[2].id, "set": {"skill": "cooking"}}, deps=[done[2].id])
for who, c in [(1, done[0]), (2, done[0]), (2, done[1]), (4, done[4])]:
    w.ok(who, "attestation.set", {"contribution": c.id, "verdict": "confirm"}, deps=[c.id])
OUT.unlink(missing_ok=True)
with Store.open(OUT, HANDLERS) as store:
    store.ingest([op.raw for op in w.ops])
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(OUT, len(w.ops), "ops")
