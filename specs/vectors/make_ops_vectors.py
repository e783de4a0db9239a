"""Generate the op test vectors in ``specs/vectors/ops/`` (see ``specs/ops.md``, "Test vectors").

    python specs/vectors/make_ops_vectors.py [OUT_DIR]

Deterministic: keys come from fixed seeds, Ed25519 signatures are deterministic and every
encoding is built here from cbor2 + PyNaCl directly, NOT through ``node.crdt.op``, so the vectors
state what the spec says and the implementation is checked against them
(``tests/test_ops_spec.py``). Expected results are written by hand below, never computed by the
implementation under test.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import cbor2
import nacl.signing

DOMAIN = b"we/op/v1\n"
ZERO = bytes(32)
TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
OUT = Path(__file__).resolve().parent / "ops"


def enc(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def op_id(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


class Key:
    def __init__(self, name: str):
        self.seed = hashlib.sha256(b"we/ops/vectors/" + name.encode()).digest()
        self.sk = nacl.signing.SigningKey(self.seed)
        self.pub = bytes(self.sk.verify_key)

    def unsigned(self, **fields: Any) -> dict[str, Any]:
        m: dict[str, Any] = {
            "v": 1,
            "community": ZERO,
            "author": self.pub,
            "seq": 1,
            "deps": [],
            "lamport": 1,
            "ts": TS,
            "kind": "community.create",
            "body": {},
        }
        for k, v in fields.items():
            if v is DROP:
                m.pop(k, None)
            else:
                m[k] = v
        return m

    def sign(self, unsigned: dict[str, Any]) -> dict[str, Any]:
        """Sign exactly this map (whatever rule it breaks): sig over DOMAIN + canonical CBOR."""
        sig = self.sk.sign(DOMAIN + enc(unsigned)).signature
        return {**unsigned, "sig": sig}

    def op(self, **fields: Any) -> bytes:
        return enc(self.sign(self.unsigned(**fields)))


DROP = object()
alice, bob = Key("alice"), Key("bob")

# ---- the valid ops everything else is built from --------------------------------------
GENESIS_BODY = {"name": "Vector Valley", "charter": {"membership": "open", "witnesses": []}}
G = alice.op(body=GENESIS_BODY)
GID = op_id(G)
A2 = alice.op(
    community=GID,
    seq=2,
    prev=GID,
    lamport=2,
    ts=TS + 1000,
    kind="offer.create",
    body={"title": "Cordless drill", "qty": 1},
)
B1 = bob.op(community=GID, deps=[GID], lamport=2, ts=TS + 2000, kind="membership.join", body={})
ALL_TYPES_BODY = {
    "int": 42,
    "neg": -7,
    "big": 2**64 - 1,
    "most_negative": -(2**63),
    "text": "héllo ✓",
    "bytes": b"\x00\xff",
    "true": True,
    "false": False,
    "null": None,
    "list": [1, "two", [b"3"], {"four": 4}],
    "map": {"nested": {"deeper": []}},
    "fraction": [1, 3],
}
A3 = alice.op(
    community=GID,
    seq=3,
    prev=op_id(A2),
    deps=[op_id(B1)],
    lamport=3,
    ts=TS + 3000,
    kind="note.post",
    body=ALL_TYPES_BODY,
)
CHAIN = {"community": GID, "lamport": 2}  # common fields of a non-genesis alice op at seq 2


def fields_of(raw: bytes) -> dict[str, Any]:
    m = cbor2.loads(raw)
    return {
        "v": m["v"],
        "community": m["community"].hex(),
        "author": m["author"].hex(),
        "seq": m["seq"],
        "prev": m["prev"].hex() if "prev" in m else None,
        "deps": [d.hex() for d in m["deps"]],
        "lamport": m["lamport"],
        "ts": m["ts"],
        "kind": m["kind"],
        "body_cbor": enc(m["body"]).hex(),
        "sig": m["sig"].hex(),
    }


VECTORS: list[dict[str, Any]] = []


def valid(name: str, desc: str, key: Key, raw: bytes) -> None:
    m = cbor2.loads(raw)
    unsigned = {k: v for k, v in m.items() if k != "sig"}
    VECTORS.append(
        {
            "name": name,
            "type": "op",
            "description": desc,
            "secret_seed": key.seed.hex(),
            "encoded": raw.hex(),
            "expect": {
                "valid": True,
                "id": op_id(raw).hex(),
                "signing_input": (DOMAIN + enc(unsigned)).hex(),
                "fields": fields_of(raw),
            },
        }
    )


def invalid(
    name: str, desc: str, raw: bytes, reason: str, key: Key | None = alice, **extra
) -> None:
    VECTORS.append(
        {
            "name": name,
            "type": "op",
            "description": desc,
            "secret_seed": key.seed.hex() if key else None,
            "encoded": raw.hex(),
            "expect": {"valid": False, "reason": reason, **extra},
        }
    )


def flip_sig(raw: bytes, bit: int = 0x01) -> bytes:
    """Flip one bit in the last byte of the signature (not the last byte of the op: with
    length-first key order the map ends with 'community')."""
    at = raw.index(b"\x63sig\x58\x40") + 6 + 63
    out = bytearray(raw)
    out[at] ^= bit
    return bytes(out)


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


def op_vectors() -> None:
    valid("valid-genesis", "A community genesis op: community = 32 zero bytes, seq 1.", alice, G)
    valid("valid-chained", "Alice's second op in the community: prev = genesis id.", alice, A2)
    valid(
        "valid-first-op-with-dep",
        "Bob's first op in the community: seq 1, no prev, names the genesis as a dep.",
        bob,
        B1,
    )
    valid(
        "valid-prev-and-deps-all-body-types",
        "Seq 3 with prev and a dep; the body uses every allowed value type and both ends "
        "of the integer range.",
        alice,
        A3,
    )

    signed = alice.sign(alice.unsigned(body=GENESIS_BODY))
    reordered = dict(sorted(signed.items()))  # alphabetical, not length-first
    invalid(
        "noncanonical-key-order",
        "Valid signature, but map keys in alphabetical instead of length-first order.",
        cbor2.dumps(reordered),
        "not_canonical",
    )
    invalid(
        "noncanonical-int",
        "The seq value 2 written as 0x18 0x02 (one extra byte) instead of 0x02.",
        replace_once(A2, b"\x63seq\x02", b"\x63seq\x18\x02"),
        "not_canonical",
    )
    invalid(
        "noncanonical-indefinite-map",
        "The empty body map written with indefinite length (0xbf 0xff) instead of 0xa0.",
        replace_once(B1, b"\x64body\xa0", b"\x64body\xbf\xff"),
        "not_canonical",
    )
    invalid(
        "noncanonical-duplicate-key",
        "The body map repeats the key 'qty' (the later value would win in a lax decoder).",
        replace_once(A2, b"\xa2\x63qty\x01", b"\xa3\x63qty\x05\x63qty\x01"),
        "not_canonical",
    )
    invalid(
        "trailing-bytes",
        "A valid op followed by one extra byte.",
        A2 + b"\x00",
        "not_canonical",
    )
    invalid(
        "unknown-field",
        "An extra top-level field 'extra', correctly signed.",
        alice.op(body=GENESIS_BODY, extra=1),
        "unknown_field",
    )
    invalid(
        "missing-field-ts",
        "The ts field is absent (signed without it).",
        alice.op(body=GENESIS_BODY, ts=DROP),
        "missing_field",
    )
    invalid(
        "missing-field-sig",
        "An op without a signature.",
        enc(alice.unsigned(body=GENESIS_BODY)),
        "missing_field",
    )
    invalid(
        "wrong-type-seq-text",
        "seq is the text '2' instead of an unsigned integer.",
        alice.op(**CHAIN, seq="2", prev=GID),
        "wrong_type",
    )
    invalid(
        "wrong-type-author-short",
        "author is 31 bytes.",
        enc({**alice.sign(alice.unsigned()), "author": alice.pub[:31]}),
        "wrong_type",
    )
    invalid(
        "wrong-type-sig-short",
        "sig is 63 bytes.",
        enc({**alice.sign(alice.unsigned()), "sig": bytes(63)}),
        "wrong_type",
    )
    invalid(
        "wrong-type-negative-ts",
        "ts is a negative integer.",
        alice.op(ts=-1),
        "wrong_type",
    )
    invalid(
        "float-in-body",
        "A body value is a float (1.5): floats are never allowed.",
        alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={"x": 1.5}),
        "bad_body",
    )
    invalid(
        "tag-in-body-unknown",
        "A body value carries CBOR tag 9999.",
        alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={"x": cbor2.CBORTag(9999, 1)}),
        "bad_body",
    )
    invalid(
        "tag-in-body-datetime",
        "A body value carries CBOR tag 1 (epoch date-time).",
        replace_once(
            alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={"x": 1_600_000_000}),
            b"\x61x\x1a\x5f\x5e\x10\x00",
            b"\x61x\xc1\x1a\x5f\x5e\x10\x00",
        ),
        "bad_body",
    )
    invalid(
        "body-int-key",
        "A body map has an integer key.",
        alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={1: "one"}),
        "bad_body",
    )
    deep: Any = 0
    for _ in range(20):
        deep = [deep]
    invalid(
        "body-too-deep",
        "A body nested 21 levels deep (the limit is 16).",
        alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={"x": deep}),
        "bad_body",
    )
    invalid(
        "body-int-too-small",
        "A body integer below -2^63.",
        alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={"x": -(2**63) - 1}),
        "bad_body",
    )
    invalid(
        "oversize",
        "A correctly signed op of more than 65536 bytes.",
        alice.op(**CHAIN, seq=2, prev=GID, kind="note.post", body={"x": bytes(65536)}),
        "too_large",
    )
    invalid(
        "bad-signature",
        "A valid op with the last bit of its signature flipped. Well-formed without the "
        "signature check (range members are decoded that way), rejected with it.",
        flip_sig(A2),
        "bad_signature",
        decodes_without_signature_check=True,
    )
    invalid(
        "bad-signature-other-key",
        "Signed by bob but names alice as author.",
        enc({**bob.sign(alice.unsigned(body=GENESIS_BODY)), "author": alice.pub}),
        "bad_signature",
        decodes_without_signature_check=True,
    )
    invalid(
        "seq1-with-prev",
        "seq 1 must not have a prev.",
        alice.op(**CHAIN, prev=GID, deps=[], kind="note.post"),
        "bad_prev",
    )
    invalid(
        "seq2-without-prev",
        "seq 2 must have a prev.",
        alice.op(**CHAIN, seq=2, kind="note.post"),
        "bad_prev",
    )
    invalid("seq-zero", "seq starts at 1.", alice.op(seq=0, lamport=0), "bad_seq")
    invalid(
        "lamport-below-seq",
        "lamport 2 at seq 3 (lamport is always at least seq).",
        alice.op(community=GID, seq=3, prev=op_id(A2), lamport=2, kind="note.post"),
        "bad_lamport",
    )
    d1, d2 = sorted([op_id(B1), op_id(A3)])
    invalid(
        "deps-unsorted",
        "Two deps in descending order.",
        alice.op(community=GID, seq=2, prev=GID, lamport=4, deps=[d2, d1], kind="note.post"),
        "bad_deps",
    )
    invalid(
        "deps-duplicate",
        "The same dep twice (not strictly ascending).",
        alice.op(community=GID, seq=2, prev=GID, lamport=4, deps=[d1, d1], kind="note.post"),
        "bad_deps",
    )
    many = sorted(hashlib.sha256(bytes([i])).digest() for i in range(17))
    invalid(
        "deps-too-many",
        "17 deps (the limit is 16).",
        alice.op(**CHAIN, seq=2, prev=GID, deps=many, kind="note.post"),
        "bad_deps",
    )
    invalid(
        "prev-in-deps",
        "prev is repeated in deps.",
        alice.op(**CHAIN, seq=2, prev=GID, deps=[GID], kind="note.post"),
        "bad_deps",
    )
    invalid("bad-version", "v = 2.", alice.op(v=2), "bad_version")
    invalid("bad-kind-empty", "kind is the empty text.", alice.op(**CHAIN, kind=""), "bad_kind")
    invalid(
        "bad-kind-too-long",
        "kind of 65 characters.",
        alice.op(**CHAIN, deps=[GID], kind="k" * 65),
        "bad_kind",
    )
    invalid(
        "bad-kind-non-ascii",
        "kind with a non-ASCII character.",
        alice.op(**CHAIN, deps=[GID], kind="offer.créate"),
        "bad_kind",
    )
    invalid("truncated", "A valid op cut 10 bytes short.", A2[:-10], "malformed")
    invalid("empty", "Zero bytes.", b"", "malformed", key=None)
    invalid("not-a-map", "A CBOR array.", enc([1, 2, 3]), "malformed", key=None)
    invalid(
        "invalid-utf8",
        "The kind text holds invalid UTF-8.",
        replace_once(A2, b"offer.create", b"offer.\xffreate"),
        "malformed",
    )
    invalid(
        "genesis-nonzero-community",
        "A community.create op that names a community.",
        alice.op(community=GID, body=GENESIS_BODY),
        "bad_community",
    )
    invalid(
        "zero-community-not-genesis",
        "An op of another kind with the all-zero community.",
        alice.op(kind="note.post"),
        "bad_community",
    )
    invalid(
        "genesis-with-deps",
        "A genesis op with a dep.",
        alice.op(deps=[op_id(B1)], lamport=3, body=GENESIS_BODY),
        "bad_community",
    )


def alice_chain() -> tuple[bytes, bytes, bytes]:
    return G, A2, alice.op(community=GID, seq=3, prev=op_id(A2), lamport=3, kind="note.post")


def rng(name: str, desc: str, ops: list[bytes], before: bytes | None, expect: dict) -> None:
    VECTORS.append(
        {
            "name": name,
            "type": "range",
            "description": desc,
            "secret_seed": alice.seed.hex(),
            "ops": [o.hex() for o in ops],
            "before": before.hex() if before else None,
            "expect": expect,
        }
    )


def range_vectors() -> None:
    g, a2, a3 = alice_chain()
    ok = {"valid": True, "ids": [op_id(o).hex() for o in (g, a2, a3)]}
    rng("range-valid", "Alice's chain seq 1..3 verifies with one signature.", [g, a2, a3], None, ok)
    rng(
        "range-valid-continued",
        "Seq 2..3 continuing from the genesis op given as 'before'.",
        [a2, a3],
        g,
        {"valid": True, "ids": ok["ids"][1:]},
    )
    m = cbor2.loads(a2)
    m["body"] = {"title": "Cordless drill", "qty": 2}
    tampered = enc(m)  # the old signature, so only a chain check can notice
    rng(
        "range-tampered-middle",
        "The middle op's body was changed (its signature not re-made): op 3's prev no "
        "longer matches its id.",
        [g, tampered, a3],
        None,
        {"valid": False, "reason": "chain_broken"},
    )
    resigned = alice.op(
        community=GID, seq=2, prev=GID, lamport=2, kind="offer.create", body=m["body"]
    )
    rng(
        "range-resigned-middle",
        "The middle op replaced by another validly signed op at seq 2 (a fork).",
        [g, resigned, a3],
        None,
        {"valid": False, "reason": "chain_broken"},
    )
    rng("range-gap", "Seq 1 then seq 3.", [g, a3], None, {"valid": False, "reason": "chain_broken"})
    rng(
        "range-wrong-before",
        "Seq 3 said to continue from the genesis op.",
        [a3],
        g,
        {"valid": False, "reason": "chain_broken"},
    )
    rng(
        "range-bad-last-signature",
        "The last op's signature is broken: nothing in the range is authentic.",
        [g, a2, flip_sig(a3, 0x80)],
        None,
        {"valid": False, "reason": "bad_signature"},
    )
    m = cbor2.loads(a2)
    m["sig"] = bytes(64)
    unsigned_middle = enc(m)
    a3b = alice.op(community=GID, seq=3, prev=op_id(unsigned_middle), lamport=3, kind="note.post")
    rng(
        "range-middle-authentic-by-link",
        "The middle op's own signature is 64 zero bytes, but the validly signed op 3 links to "
        "it by prev, so the range is authentic (one signature per range).",
        [g, unsigned_middle, a3b],
        None,
        {"valid": True, "ids": [op_id(o).hex() for o in (g, unsigned_middle, a3b)]},
    )
    rng(
        "range-mixed-authors",
        "Alice's genesis followed by bob's seq 1.",
        [g, B1],
        None,
        {"valid": False, "reason": "chain_broken"},
    )


def proof(name: str, desc: str, encoded: bytes, expect: dict) -> None:
    VECTORS.append(
        {
            "name": name,
            "type": "fork_proof",
            "description": desc,
            "secret_seed": alice.seed.hex(),
            "encoded": encoded.hex(),
            "expect": expect,
        }
    )


def fork_vectors() -> None:
    other = alice.op(community=GID, seq=2, prev=GID, lamport=2, kind="note.post", body={"x": 1})
    x, y = sorted([A2, other], key=op_id)
    proof(
        "fork-valid",
        "Two different ops signed by alice at (community, alice, seq 2), ordered by id.",
        enc([x, y]),
        {
            "valid": True,
            "community": GID.hex(),
            "author": alice.pub.hex(),
            "seq": 2,
            "ids": [op_id(x).hex(), op_id(y).hex()],
        },
    )
    proof(
        "fork-same-op",
        "The same op twice is no fork.",
        enc([A2, A2]),
        {"valid": False, "reason": "fork_same_op"},
    )
    a3 = alice_chain()[2]
    p, q = sorted([A2, a3], key=op_id)
    proof(
        "fork-different-seq",
        "Alice's seq 2 and seq 3: different chain positions.",
        enc([p, q]),
        {"valid": False, "reason": "fork_mismatch"},
    )
    proof(
        "fork-unordered",
        "A valid pair, but the higher id first.",
        enc([y, x]),
        {"valid": False, "reason": "fork_mismatch"},
    )
    bob2 = bob.op(community=GID, deps=[GID], lamport=2, kind="note.post", body={"x": 2})
    p, q = sorted([B1, bob2], key=op_id)
    proof(
        "fork-valid-first-ops",
        "Two different seq-1 ops by bob in one community.",
        enc([p, q]),
        {
            "valid": True,
            "community": GID.hex(),
            "author": bob.pub.hex(),
            "seq": 1,
            "ids": [op_id(p).hex(), op_id(q).hex()],
        },
    )
    p, q = sorted([A2, B1], key=op_id)
    proof(
        "fork-different-authors",
        "Alice's seq 2 and bob's seq 1: different authors and seqs.",
        enc([p, q]),
        {"valid": False, "reason": "fork_mismatch"},
    )
    g2 = alice.op(body={"name": "Another Valley"})
    p, q = sorted([G, g2], key=op_id)
    proof(
        "fork-two-genesis",
        "Two genesis ops by one author create two communities; that is no fork.",
        enc([p, q]),
        {"valid": False, "reason": "fork_mismatch"},
    )
    bad = flip_sig(y)
    proof(
        "fork-bad-signature",
        "The second op's signature is broken.",
        enc(sorted([x, bad], key=op_id)),
        {"valid": False, "reason": "bad_signature"},
    )
    proof(
        "fork-not-a-pair",
        "An array of three ops.",
        enc([x, y, A3]),
        {"valid": False, "reason": "malformed"},
    )


def ingest(
    name: str,
    desc: str,
    ops: list[bytes],
    statuses: list,
    logged: list[bytes],
    void_from: dict[Key, int] | None = None,
    void: list[bytes] = (),
) -> None:
    """``statuses``: per ingested op, a status or (status, reason) when the reason is a code.
    ``void_from``: per forked author, the seq from which their ops are void at the end;
    ``void``: the logged ops that are void at the end."""
    VECTORS.append(
        {
            "name": name,
            "type": "ingest",
            "description": desc,
            "secret_seed": None,
            "ops": [o.hex() for o in ops],
            "expect": {
                "outcomes": [[s, ""] if isinstance(s, str) else list(s) for s in statuses],
                "logged": sorted(op_id(o).hex() for o in logged),
                "void_from": {k.pub.hex(): s for k, s in (void_from or {}).items()},
                "void": sorted(op_id(o).hex() for o in void),
            },
        }
    )


def ingest_vectors() -> None:
    ingest(
        "ingest-valid-community",
        "Genesis, alice's seq 2, bob's first op, alice's seq 3 with a dep on bob: all applied.",
        [G, A2, B1, A3],
        ["applied"] * 4,
        [G, A2, B1, A3],
    )
    ingest(
        "ingest-out-of-order",
        "Alice's seq 3 and bob's first op arrive before their parents: they wait, then apply "
        "when the parents come.",
        [A3, B1, A2, G],
        ["pending", "pending", "pending", "applied"],
        [G, A2, B1, A3],
    )
    ingest("ingest-duplicate", "The same op twice.", [G, G], ["applied", "duplicate"], [G])
    ingest(
        "ingest-genesis-lamport-2",
        "A genesis op has no parents, so its lamport must be 1.",
        [alice.op(lamport=2, body=GENESIS_BODY)],
        [("invalid", "bad_lamport")],
        [],
    )
    ingest(
        "ingest-lamport-skips",
        "Alice's seq 2 with lamport 3 although max(parents) + 1 = 2.",
        [G, alice.op(community=GID, seq=2, prev=GID, lamport=3, kind="note.post")],
        ["applied", ("invalid", "bad_lamport")],
        [G],
    )
    ingest(
        "ingest-first-op-without-deps",
        "Bob's first op names no dep, so its causal past would not reach the genesis.",
        [G, bob.op(community=GID, lamport=1, kind="membership.join")],
        ["applied", ("invalid", "bad_deps")],
        [G],
    )
    g2 = alice.op(body={"name": "Another Valley"})
    ingest(
        "ingest-dep-of-other-community",
        "Bob's first op in community G names the genesis of another community as a dep.",
        [G, g2, bob.op(community=GID, deps=[op_id(g2)], lamport=2, kind="membership.join")],
        ["applied", "applied", ("invalid", "bad_deps")],
        [G, g2],
    )
    ingest(
        "ingest-prev-of-other-author",
        "Alice's seq 2 names bob's op as prev.",
        [G, B1, alice.op(community=GID, seq=2, prev=op_id(B1), lamport=3, kind="note.post")],
        ["applied", "applied", ("invalid", "chain_broken")],
        [G, B1],
    )
    twin = alice.op(community=GID, seq=2, prev=GID, lamport=2, kind="note.post", body={"x": 1})
    a3 = alice.op(community=GID, seq=3, prev=op_id(A2), lamport=3, kind="note.post")
    ingest(
        "ingest-fork-voids-later-ops",
        "A second op at alice's seq 2 proves a fork; alice's later ops are logged but void.",
        [G, A2, twin, a3],
        ["applied", "applied", "fork", "void"],
        [G, A2, twin, a3],
        {alice: 2},
        [A2, twin, a3],
    )
    on_twin = bob.op(community=GID, deps=[op_id(twin)], lamport=3, kind="note.post")
    ingest(
        "ingest-dep-on-fork-branch",
        "Bob's first op names alice's second branch (bob had not seen the fork). It waits for "
        "that op, which completes a fork proof and is logged void; bob's op then applies: a dep "
        "is satisfied by the op being known, not by it being valid.",
        [G, A2, on_twin, twin],
        ["applied", "applied", "pending", "fork"],
        [G, A2, twin, on_twin],
        {alice: 2},
        [A2, twin],
    )
    twin3 = alice.op(community=GID, seq=3, prev=op_id(twin), lamport=3, kind="note.post")
    ingest(
        "ingest-fork-branch-waits-for-its-prev",
        "Alice's seq 3 on her second branch arrives before that branch's seq 2: it waits; the "
        "seq 2 twin completes the fork proof; both are logged void.",
        [G, A2, twin3, twin],
        ["applied", "applied", "pending", "fork"],
        [G, A2, twin, twin3],
        {alice: 2},
        [A2, twin, twin3],
    )


def items(obj: Any) -> int:
    """CBOR data items in ``obj`` as the spec counts them (§2): the item itself, plus every map
    key and value and every array element below it."""
    if isinstance(obj, dict):
        return 1 + sum(items(k) + items(v) for k, v in obj.items())
    if isinstance(obj, list):
        return 1 + sum(items(v) for v in obj)
    return 1


def item_vectors() -> None:
    """At the item bound and one over it (last, so the earlier vector files keep their names)."""

    def op_with_items(total: int) -> bytes:
        fields = {**CHAIN, "seq": 2, "prev": GID, "kind": "note.post"}
        base = items(alice.sign(alice.unsigned(**fields, body={"x": []})))
        return alice.op(**fields, body={"x": [0] * (total - base)})

    at_limit = op_with_items(5000)
    assert items(cbor2.loads(at_limit)) == 5000
    valid(
        "valid-5000-items",
        "An op of exactly 5,000 CBOR data items (the bound): 1-byte integers in one array.",
        alice,
        at_limit,
    )
    over = op_with_items(5001)
    assert items(cbor2.loads(over)) == 5001
    invalid(
        "too-many-items",
        "An op of 5,001 CBOR data items (one over the bound); otherwise valid.",
        over,
        "too_many_items",
    )


def note(k: Key, seq: int, prev: bytes, x: int) -> bytes:
    """``k``'s note.post ``x`` at ``seq`` on top of ``prev``: the ops the split vectors fork
    with (alice's chain starts at the genesis, lamport 1; bob's one higher)."""
    lamport = seq if k is alice else seq + 1
    ts = TS + (6000 if k is alice else 5000) + x
    return k.op(community=GID, seq=seq, prev=op_id(prev), lamport=lamport, ts=ts,
                kind="note.post", body={"x": x})  # fmt: skip


def split_vectors() -> None:
    """Where a chain split, and what two splits do (§8). Last, so the earlier vector files
    keep their names."""
    b2, b2t = note(bob, 2, B1, 0), note(bob, 2, B1, 1)
    b3, b3t = note(bob, 3, b2, 0), note(bob, 3, b2, 1)
    ingest(
        "ingest-two-splits-void-from-seq-1",
        "Bob splits his chain at seq 3, then at seq 2 (each twin names the same prev as the op "
        "it doubles). One split voids from its seq; two void from seq 1, and no later proof "
        "can change that.",
        [G, B1, b2, b3, b3t, b2t],
        ["applied", "applied", "applied", "applied", "fork", "fork"],
        [G, B1, b2, b3, b3t, b2t],
        {bob: 1},
        [B1, b2, b3, b3t, b2t],
    )
    on_b2t = note(bob, 3, b2t, 2)
    ingest(
        "ingest-a-branch-going-on-is-no-second-split",
        "Bob splits at seq 2; b3 goes on from b2 and another seq 3 op from the twin: they name "
        "different prevs, so seq 3 is no split (the branches go on from the one at seq 2).",
        [G, B1, b2, b2t, b3, on_b2t],
        ["applied", "applied", "applied", "fork", "void", "fork"],
        [G, B1, b2, b2t, b3, on_b2t],
        {bob: 2},
        [b2, b2t, b3, on_b2t],
    )
    ingest(
        "ingest-a-split-is-found-against-every-op-at-its-seq",
        "After a split at seq 2, the first seq 3 op logged is on the twin; then b3 and b3t, "
        "both on b2, arrive: b3t names the same prev as b3 (not as the first op there), so "
        "seq 3 is a second split.",
        [G, B1, b2, b2t, on_b2t, b3, b3t],
        ["applied", "applied", "applied", "fork", "void", "fork", "fork"],
        [G, B1, b2, b2t, on_b2t, b3, b3t],
        {bob: 1},
        [B1, b2, b2t, on_b2t, b3, b3t],
    )

    a2t = note(alice, 2, G, 1)
    a3, a3t = note(alice, 3, A2, 0), note(alice, 3, A2, 1)
    ingest(
        "ingest-the-genesis-is-never-void",
        "Alice, the founder, splits at seq 3 and at seq 2: her ops are void from seq 1, "
        "except the genesis: it is the community.",
        [G, A2, a3, a3t, a2t],
        ["applied", "applied", "applied", "fork", "fork"],
        [G, A2, a3, a3t, a2t],
        {alice: 1},
        [A2, a3, a3t, a2t],
    )


def build() -> list[dict[str, Any]]:
    VECTORS.clear()
    op_vectors()
    range_vectors()
    fork_vectors()
    ingest_vectors()
    item_vectors()
    split_vectors()
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names)), "vector names must be unique"
    return list(VECTORS)


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, vector in enumerate(build(), start=1):
        path = out / f"{i:03d}-{vector['name']}.json"
        path.write_text(json.dumps(vector, indent=2, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for old in target.glob("*.json") if target.exists() else ():
        old.unlink()
    print(f"wrote {len(write(target))} vectors to {target}")
