"""Test vectors for every record op kind (specs/vectors/records/<kind>.json), valid and
rejected, and the test that replays them.

Each case is a sequence of signed ops (canonical CBOR, hex) with the expected outcome of each
when ingested in order into a fresh replica with the records handlers. Keys are
``SigningKey(bytes([i + 1]) * 32)`` for author ``i``; Ed25519 signatures are deterministic,
so regenerating gives identical bytes. Regenerate after an intended change with:

    .venv/bin/python tests/test_records_vectors.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from test_records_support import DAY, KEYS, PUB, T0, World, offer_body

from node.crdt.op import decode_op
from node.crdt.records import HANDLERS, cert_message
from node.crdt.replica import Replica

DIR = Path(__file__).resolve().parent.parent / "specs" / "vectors" / "records"


def to_json(x):
    if isinstance(x, bytes):
        return "hex:" + x.hex()
    if isinstance(x, dict):
        return {k: to_json(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_json(v) for v in x]
    return x


class Case:
    def __init__(self, kind: str, name: str, charter: dict | None = None):
        self.kind, self.name = kind, name
        self.w = World(charter or {"name": "vectors"})
        self.steps = [self._step(self.w.genesis, self.w.replica.rejections)]

    def _step(self, op, rejections):
        reason = rejections.get(op.id)
        return {
            "author": KEYS.index(next(k for k in KEYS if bytes(k.verify_key) == op.author)),
            "kind": op.kind,
            "body": to_json(dict(op.body)),
            "expect": f"rejected:{reason}" if reason else "applied",
            "raw": op.raw.hex(),
        }

    def op(self, who, kind, body, expect="applied", **kw):
        op, out = self.w.do(who, kind, body, **kw)
        got = out.status if out.status == "applied" else f"{out.status}:{out.reason}"
        assert got == expect, (self.kind, self.name, kind, got, expect)
        self.steps.append(self._step(op, self.w.replica.rejections))
        if out.status == "void":  # cut off (a revoked key): not a rejection, no effect
            self.steps[-1]["expect"] = got
        return op

    def joined(self, *who):
        for w in who:
            self.op(w, "member.join", {})
        return self


def cases() -> list[Case]:
    out: list[Case] = []

    def case(kind, name, charter=None, members=(1, 2)):
        c = Case(kind, name, charter).joined(*members)
        out.append(c)
        return c

    ok, R = "applied", "rejected:"
    full = {
        "name": "Garden",
        "description": "tools and seeds",
        "membership": {"rule": "vouched", "vouches": 1},
        "attestation": {"confirmations": 2, "max_disputes": 1},
        "half_life_days": 90,
        "score_cap": 6000,
        "witnesses": [PUB[0]],
        "visibility": "members",
    }
    out.append(Case("community.create", "full charter", full))
    out.append(
        Case("community.create", "zero half-life is rejected", {"name": "x", "half_life_days": 0})
    )
    out.append(Case("community.create", "unknown field is rejected", {"name": "x", "colour": 1}))
    bad = Case("member.join", "join a community whose genesis was rejected", {"name": ""})
    bad.op(1, "member.join", {}, R + "unknown_community")
    out.append(bad)
    c = case("member.join", "join twice")
    c.op(1, "member.join", {}, R + "already_member")
    c = Case(
        "member.vouch",
        "vouch admits; self, duplicate and non-member vouches rejected",
        {"name": "v", "membership": {"rule": "vouched", "vouches": 1}},
    ).joined(1, 2)
    out.append(c)
    c.op(1, "offer.create", offer_body(), R + "not_member")
    c.op(0, "member.vouch", {"member": PUB[1]}, ok)
    c.op(1, "offer.create", offer_body(), ok)
    c.op(0, "member.vouch", {"member": PUB[0]}, R + "self_vouch")
    c.op(0, "member.vouch", {"member": PUB[1]}, R + "duplicate_vouch")
    c.op(2, "member.vouch", {"member": PUB[1]}, R + "not_member")
    c = case("member.leave", "leave ends membership")
    c.op(1, "member.leave", {}, ok)
    c.op(1, "offer.create", offer_body(), R + "not_member")
    c.op(1, "member.leave", {}, R + "not_member")
    c.op(5, "member.leave", {}, R + "not_member")
    c = case("profile.set", "own profile; bad geohash; non-member")
    c.op(
        1,
        "profile.set",
        {
            "display_name": "Ana",
            "skills": ["carpentry"],
            "geohash": "u33dc",
            "addrs": ["/ip4/127.0.0.1/tcp/4001"],
        },
        ok,
    )
    c.op(1, "profile.set", {"geohash": "u33dcA"}, R + "bad_body")
    c.op(5, "profile.set", {"display_name": "x"}, R + "not_member")
    c = case("profile.set", "text rule: no control character or bidi override in any text")
    c.op(1, "profile.set", {"display_name": "Bob\x1b]0;pwned\x07\x1b[2J"}, R + "bad_body")
    c.op(1, "profile.set", {"display_name": "Bob\u202ekcilc"}, R + "bad_body")
    c.op(1, "profile.set", {"display_name": "Bob", "bio": "line one\n\tline two"}, ok)
    c.op(1, "profile.set", {"bio": "rewritten\rline"}, R + "bad_body")
    c.op(1, "profile.set", {"addrs": ["/ip4/127.0.0.1/tcp/1\n"]}, R + "bad_body")

    for fam in ("offer", "need"):
        c = case(f"{fam}.create", "create; expiry cap; bad body; non-member")
        c.op(
            1,
            f"{fam}.create",
            offer_body(geohash="u33dc0", radius_m=2000, windows=[[T0, T0 + DAY]], tags=["bosch"]),
            ok,
        )
        c.op(1, f"{fam}.create", offer_body(expires=T0 + 400 * DAY), R + "bad_expiry")
        c.op(1, f"{fam}.create", offer_body(action="steal"), R + "bad_body")
        c.op(5, f"{fam}.create", offer_body(), R + "not_member")
        c = case(f"{fam}.create", "text rule: line breaks only in the description; no controls")
        c.op(1, f"{fam}.create", offer_body(description="two\nlines\tand a tab"), ok)
        c.op(1, f"{fam}.create", offer_body(title="Line1\nLine2"), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(title="drill\x1b[31mRED"), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(title="drill\x9b2J"), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(title="\u2066drill\u2069"), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(title=" \u3000 "), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(description="a\u202eb"), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(tags=["ok", "b\x00d"]), R + "bad_body")
        c.op(1, f"{fam}.create", offer_body(title="Perceuse \u00e9lectrique \U0001f527"), ok)
        c = case(f"{fam}.update", "author edits; others may not")
        o = c.op(1, f"{fam}.create", offer_body(), ok)
        c.op(1, f"{fam}.update", {"id": o.id, "set": {"title": "hammer drill"}}, ok)
        c.op(
            2,
            f"{fam}.update",
            {"id": o.id, "set": {"title": "mine"}},
            R + "not_author",
            deps=[o.id],
        )
        c.op(2, f"{fam}.update", {"id": b"\x07" * 32, "set": {"title": "x"}}, R + "unknown_ref")
        c = case(f"{fam}.status", "status moves forward only; final status is final")
        o = c.op(1, f"{fam}.create", offer_body(), ok)
        c.op(1, f"{fam}.status", {"id": o.id, "status": "paused"}, ok)
        c.op(1, f"{fam}.status", {"id": o.id, "status": "paused"}, R + "bad_transition")
        c.op(1, f"{fam}.status", {"id": o.id, "status": "withdrawn"}, ok)
        c.op(1, f"{fam}.status", {"id": o.id, "status": "active"}, R + "status_final")

    def loan(kind, name):
        c = case(kind, name, members=(1, 2, 3))
        o = c.op(1, "offer.create", offer_body(), ok)
        r = c.op(
            2, "reservation.request", {"offer": o.id, "window": [T0, T0 + DAY]}, ok, deps=[o.id]
        )
        return c, o, r

    c, o, r = loan("reservation.request", "request; own offer rejected")
    c.op(1, "reservation.request", {"offer": o.id, "window": [T0, T0 + DAY]}, R + "own_offer")
    c, o, r = loan("reservation.accept", "owner accepts; requester may not; inactive offer")
    c.op(2, "reservation.accept", {"reservation": r.id}, R + "not_allowed")
    c.op(1, "reservation.accept", {"reservation": r.id}, ok)
    r2 = c.op(3, "reservation.request", {"offer": o.id, "window": [T0, T0 + DAY]}, ok)
    c.op(1, "offer.status", {"id": o.id, "status": "paused"}, ok)
    c.op(1, "reservation.accept", {"reservation": r2.id}, R + "offer_inactive")
    c = case("reservation.request", "quantity at most the offer's amount in the op's past")
    o = c.op(1, "offer.create", offer_body(quantity={"amount": 2, "unit": "item"}), ok)
    want = {"offer": o.id, "window": [T0, T0 + DAY]}
    c.op(2, "reservation.request", {**want, "quantity": 3}, R + "quantity_exceeds_offer")
    c.op(2, "reservation.request", {**want, "quantity": 2}, ok)
    c = case("reservation.accept", "accept: quantity at most the offer's current amount")
    o = c.op(1, "offer.create", offer_body(quantity={"amount": 2, "unit": "item"}), ok)
    r = c.op(2, "reservation.request", {"offer": o.id, "window": [T0, T0 + DAY], "quantity": 2}, ok)
    c.op(1, "offer.update", {"id": o.id, "set": {"quantity": {"amount": 1, "unit": "item"}}}, ok)
    c.op(1, "reservation.accept", {"reservation": r.id}, R + "quantity_exceeds_offer")
    c, o, r = loan("reservation.decline", "owner declines; then nothing else")
    c.op(2, "reservation.decline", {"reservation": r.id}, R + "not_allowed")
    c.op(1, "reservation.decline", {"reservation": r.id}, ok)
    c.op(1, "reservation.accept", {"reservation": r.id}, R + "bad_transition")
    c.op(1, "reservation.decline", {"reservation": r.id}, R + "bad_transition")
    c, o, r = loan("reservation.cancel", "either party cancels before handover; others may not")
    c.op(3, "reservation.cancel", {"reservation": r.id}, R + "not_allowed")
    c.op(2, "reservation.cancel", {"reservation": r.id}, ok)
    c, o, r = loan("reservation.handover", "requester takes custody after accept only")
    c.op(2, "reservation.handover", {"reservation": r.id}, R + "bad_transition")
    c.op(1, "reservation.accept", {"reservation": r.id}, ok)
    c.op(1, "reservation.handover", {"reservation": r.id}, R + "not_allowed")
    c.op(2, "reservation.handover", {"reservation": r.id}, ok)
    c.op(2, "reservation.cancel", {"reservation": r.id}, R + "bad_transition")
    c, o, r = loan("reservation.return", "owner takes custody back")
    c.op(1, "reservation.accept", {"reservation": r.id}, ok)
    c.op(2, "reservation.handover", {"reservation": r.id}, ok)
    c.op(2, "reservation.return", {"reservation": r.id}, R + "not_allowed")
    c.op(1, "reservation.return", {"reservation": r.id}, ok)

    c = case("project.create", "member creates; non-member rejected")
    c.op(1, "project.create", {"name": "Seed library", "maintainers": [PUB[2]]}, ok)
    c.op(5, "project.create", {"name": "x"}, R + "not_member")
    c = case("project.update", "creator and maintainers update", members=(1, 2, 3))
    p = c.op(1, "project.create", {"name": "Seed library", "maintainers": [PUB[2]]}, ok)
    c.op(2, "project.update", {"id": p.id, "set": {"description": "swap seeds"}}, ok)
    c.op(3, "project.update", {"id": p.id, "set": {"name": "mine"}}, R + "not_allowed")
    c.op(2, "project.update", {"id": p.id, "set": {"maintainers": [PUB[3]]}}, R + "not_allowed")

    c = case("contribution.record", "record; needs effort or quantity; unknown project")
    p = c.op(1, "project.create", {"name": "p"}, ok)
    c.op(
        1,
        "contribution.record",
        {
            "project": p.id,
            "action": "work",
            "effort_minutes": 90,
            "skill": "carpentry",
            "evidence": ["https://x.example/1"],
            "at": T0,
        },
        ok,
    )
    c.op(1, "contribution.record", {"action": "work", "at": T0}, R + "bad_body")
    c.op(
        1,
        "contribution.record",
        {
            "project": b"\x09" * 32,
            "action": "cite",
            "quantity": {"amount": 1, "unit": "paper"},
            "at": T0,
        },
        R + "unknown_ref",
    )
    c = case("contribution.correct", "only the contributor corrects; retraction is final")
    k = c.op(1, "contribution.record", {"action": "work", "effort_minutes": 60, "at": T0}, ok)
    c.op(
        2,
        "contribution.correct",
        {"id": k.id, "set": {"effort_minutes": 5}},
        R + "not_author",
        deps=[k.id],
    )
    c.op(1, "contribution.correct", {"id": k.id, "set": {"effort_minutes": 45}}, ok)
    c.op(1, "contribution.correct", {"id": k.id, "retract": True}, ok)
    c.op(1, "contribution.correct", {"id": k.id, "set": {"effort_minutes": 5}}, R + "retracted")
    c = case("attestation.set", "others confirm or dispute; never one's own", members=(1, 2, 3))
    k = c.op(1, "contribution.record", {"action": "work", "effort_minutes": 60, "at": T0}, ok)
    c.op(2, "attestation.set", {"contribution": k.id, "verdict": "confirm"}, ok, deps=[k.id])
    c.op(3, "attestation.set", {"contribution": k.id, "verdict": "dispute"}, ok, deps=[k.id])
    c.op(3, "attestation.set", {"contribution": k.id, "verdict": "confirm"}, ok)
    c.op(1, "attestation.set", {"contribution": k.id, "verdict": "confirm"}, R + "own_contribution")
    c.op(2, "attestation.set", {"contribution": k.id, "verdict": "maybe"}, R + "bad_body")

    c = case("thread.create", "free-standing and on a record; bad targets, text and mentions")
    o = c.op(1, "offer.create", offer_body(), ok)
    c.op(2, "thread.create", {"title": "Garden day", "text": "Saturday?\n10:00"}, ok)
    on = {"title": "Lend it?", "text": "", "target": o.id, "mentions": [PUB[1]]}
    t = c.op(2, "thread.create", on, ok, deps=[o.id])
    c.op(2, "thread.create", {"title": "t", "text": "", "target": t.id}, R + "bad_target")
    c.op(2, "thread.create", {"title": "t", "text": "", "target": b"\x07" * 32}, R + "unknown_ref")
    c.op(2, "thread.create", {"title": "t", "text": "a\u202eb"}, R + "bad_body")
    c.op(2, "thread.create", {"title": "two\nlines", "text": ""}, R + "bad_body")
    c.op(2, "thread.create", {"title": "t", "text": "", "mentions": [PUB[5]]}, R + "bad_mention")
    c.op(5, "thread.create", {"title": "t", "text": ""}, R + "not_member")
    c = case("comment.create", "comments and replies; a reply across threads; a stranger")
    t = c.op(1, "thread.create", {"title": "Tools", "text": ""}, ok)
    u = c.op(1, "thread.create", {"title": "Seeds", "text": ""}, ok)
    a = c.op(2, "comment.create", {"thread": t.id, "text": "a drill"}, ok, deps=[t.id])
    c.op(1, "comment.create", {"thread": t.id, "text": "which?", "reply_to": a.id}, ok)
    c.op(1, "comment.create", {"thread": u.id, "text": "?", "reply_to": a.id}, R + "wrong_thread")
    c.op(1, "comment.create", {"thread": t.id, "text": "x" * 8001}, R + "bad_body")
    c.op(1, "comment.create", {"thread": t.id, "text": "\x1b[2J"}, R + "bad_body")
    c.op(5, "comment.create", {"thread": t.id, "text": "buy"}, R + "not_member", deps=[t.id])
    c = case("comment.edit", "the author edits; history is kept; others may not")
    t = c.op(1, "thread.create", {"title": "Tools", "text": ""}, ok)
    a = c.op(1, "comment.create", {"thread": t.id, "text": "a drill"}, ok)
    c.op(1, "comment.edit", {"comment": a.id, "text": "a hammer drill"}, ok)
    c.op(2, "comment.edit", {"comment": a.id, "text": "mine"}, R + "not_author", deps=[a.id])
    c = case("comment.retract", "the author retracts once; then no edit; replies stay")
    t = c.op(1, "thread.create", {"title": "Tools", "text": ""}, ok)
    a = c.op(1, "comment.create", {"thread": t.id, "text": "a drill"}, ok)
    c.op(2, "comment.retract", {"comment": a.id}, R + "not_author", deps=[a.id])
    c.op(1, "comment.retract", {"comment": a.id}, ok)
    c.op(1, "comment.edit", {"comment": a.id, "text": "back"}, R + "retracted")
    c.op(1, "comment.retract", {"comment": a.id}, R + "retracted")
    c.op(2, "comment.create", {"thread": t.id, "text": "what?", "reply_to": a.id}, ok)
    c = case("reaction.set", "a stance per member and target; null clears; bad stance")
    t = c.op(1, "thread.create", {"title": "Tools", "text": ""}, ok)
    a = c.op(1, "comment.create", {"thread": t.id, "text": "a drill"}, ok)
    c.op(2, "reaction.set", {"target": t.id, "stance": "question"}, ok, deps=[a.id])
    c.op(2, "reaction.set", {"target": t.id, "stance": "agree"}, ok)
    c.op(2, "reaction.set", {"target": a.id, "stance": None}, ok)
    c.op(2, "reaction.set", {"target": a.id, "stance": "love"}, R + "bad_body")
    c.op(2, "reaction.set", {"target": c.w.community, "stance": "agree"}, R + "bad_target")
    c.op(5, "reaction.set", {"target": t.id, "stance": "agree"}, R + "not_member", deps=[t.id])

    def cert(member, device, signer):
        sig = KEYS[signer].sign(cert_message(PUB[member], PUB[device])).signature
        return {"member": PUB[member], "by": PUB[signer], "sig": sig}

    c = case("device.link", "a device links by a certificate of its member or a device of it")
    c.op(5, "device.link", cert(1, 5, 1), ok)
    c.op(5, "offer.create", offer_body(), ok)
    c.op(6, "device.link", {**cert(1, 6, 1), "sig": bytes(64)}, R + "bad_cert")
    c.op(7, "device.link", cert(1, 7, 2), R + "bad_signer")
    c.op(2, "device.link", cert(1, 2, 1), R + "not_first")
    c.op(8, "device.link", cert(9, 8, 9), R + "not_member")
    c.op(10, "device.link", cert(1, 10, 5), ok)
    c.op(10, "member.leave", {}, R + "device")
    c = case("device.revoke", "a revoked key signs nothing more and admits no device")
    c.op(5, "device.link", cert(1, 5, 1), ok)
    c.op(1, "device.revoke", {"device": PUB[5]}, ok)
    c.op(5, "offer.create", offer_body(), "void:author removed")
    c.op(6, "device.link", cert(1, 6, 5), "void:author removed")
    c.op(1, "device.revoke", {"device": PUB[7]}, R + "unknown_device")
    c.op(2, "device.revoke", {"device": PUB[5]}, R + "unknown_device")
    c.op(5, "device.revoke", {"device": PUB[1]}, "void:author removed")
    c = case("recovery.vouch", "members vouch that a new key is a member who lost theirs")
    c.op(2, "recovery.vouch", {"member": PUB[1], "key": PUB[9]}, ok)
    c.op(2, "recovery.vouch", {"member": PUB[1], "key": PUB[9]}, R + "duplicate_vouch")
    c.op(1, "recovery.vouch", {"member": PUB[1], "key": PUB[9]}, R + "self_vouch")
    c.op(2, "recovery.vouch", {"member": PUB[7], "key": PUB[9]}, R + "not_member")
    c.op(6, "recovery.vouch", {"member": PUB[1], "key": PUB[9]}, R + "not_member")
    c = case("recovery.claim", "the new key claims with enough vouches; the old keys are cut")
    c.op(2, "recovery.vouch", {"member": PUB[1], "key": PUB[9]}, ok)
    c.op(9, "recovery.claim", {"member": PUB[1]}, R + "few_vouches")
    c.op(0, "recovery.vouch", {"member": PUB[1], "key": PUB[8]}, ok)
    c.op(2, "recovery.vouch", {"member": PUB[1], "key": PUB[8]}, ok)
    c.op(8, "recovery.claim", {"member": PUB[1]}, ok)
    c.op(8, "offer.create", offer_body(), ok)
    c.op(1, "offer.create", offer_body(), "void:author removed")
    return out


def build() -> dict[str, dict]:
    files: dict[str, dict] = {}
    for c in cases():
        f = files.setdefault(
            c.kind,
            {
                "kind": c.kind,
                "keys": "author i signs with nacl.signing.SigningKey(bytes([i + 1]) * 32)",
                "replay": "ingest ops in order into a fresh replica with records.HANDLERS; "
                "each op's outcome must equal 'expect'",
                "cases": [],
            },
        )
        f["cases"].append({"name": c.name, "ops": c.steps})
    return files


def write() -> None:
    DIR.mkdir(parents=True, exist_ok=True)
    for kind, data in build().items():
        (DIR / f"{kind}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def load() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DIR.glob("*.json"))}


def test_every_kind_has_valid_and_rejected_vectors():
    files = load()
    assert set(files) == set(HANDLERS)
    for kind, data in files.items():
        expects = {
            op["expect"].split(":")[0]
            for case in data["cases"]
            for op in case["ops"]
            if op["kind"] == kind
        }
        assert {"applied", "rejected"} <= expects <= {"applied", "rejected", "void"}, kind


def test_vectors_replay_to_their_expected_outcomes():
    for kind, data in load().items():
        for case in data["cases"]:
            replica = Replica(HANDLERS)
            for step in case["ops"]:
                op = decode_op(bytes.fromhex(step["raw"]))  # signature checked
                assert (op.kind, to_json(dict(op.body))) == (step["kind"], step["body"])
                assert op.author == PUB[step["author"]]
                out = replica.ingest(op)
                got = out.status if out.status == "applied" else f"{out.status}:{out.reason}"
                assert got == step["expect"], (kind, case["name"], step["kind"])


def test_vector_files_are_up_to_date():
    assert load() == json.loads(json.dumps(build(), sort_keys=True))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    write()
    print(f"wrote {len(list(DIR.glob('*.json')))} files to {DIR}")
