"""Conformance of node/crdt/op.py and chain.py to the vectors in specs/vectors/ops/.

Every vector file is checked; another implementation can run the same files (format in
specs/ops.md, "Test vectors").
"""

import importlib.util
import json
from pathlib import Path

import nacl.signing
import pytest

from node.crdt.chain import ForkProof, verify_range
from node.crdt.op import OpError, canonical, decode_op
from node.crdt.replica import Replica

VECTORS = Path(__file__).resolve().parent.parent / "specs" / "vectors"
FILES = sorted((VECTORS / "ops").glob("*.json"))


def load(path):
    return json.loads(path.read_text())


def test_there_are_enough_vectors():
    kinds = [load(p)["type"] for p in FILES]
    assert len(FILES) >= 24
    assert {"op", "range", "fork_proof"} <= set(kinds)


def test_vector_files_are_what_the_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_ops_vectors", VECTORS / "make_ops_vectors.py"
    )
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    written = gen.write(tmp_path)
    assert [p.name for p in written] == [p.name for p in FILES]
    for new, old in zip(written, FILES, strict=True):
        assert new.read_bytes() == old.read_bytes(), f"{old.name} is stale: rerun the generator"


def _rejects(fn, reason):
    with pytest.raises(OpError) as e:
        fn()
    assert e.value.reason == reason, e.value


def check_op(v):
    data = bytes.fromhex(v["encoded"])
    expect = v["expect"]
    if not expect["valid"]:
        _rejects(lambda: decode_op(data), expect["reason"])
        if expect.get("decodes_without_signature_check"):
            decode_op(data, verify=False)
        return
    op = decode_op(data)
    f = expect["fields"]
    assert op.id.hex() == expect["id"]
    assert op.signing_input().hex() == expect["signing_input"]
    assert op.raw == data
    assert op.v == f["v"]
    assert op.community.hex() == f["community"]
    assert op.author.hex() == f["author"]
    assert op.seq == f["seq"]
    assert (op.prev.hex() if op.prev else None) == f["prev"]
    assert [d.hex() for d in op.deps] == f["deps"]
    assert op.lamport == f["lamport"]
    assert op.ts == f["ts"]
    assert op.kind == f["kind"]
    assert canonical(op.body).hex() == f["body_cbor"]
    assert op.sig.hex() == f["sig"]
    # the seed in the vector is the author's key, and signing is deterministic
    key = nacl.signing.SigningKey(bytes.fromhex(v["secret_seed"]))
    assert bytes(key.verify_key) == op.author
    assert key.sign(op.signing_input()).signature == op.sig


def check_range(v):
    expect = v["expect"]
    before = decode_op(bytes.fromhex(v["before"]), verify=False) if v["before"] else None

    def run():
        ops = [decode_op(bytes.fromhex(h), verify=False) for h in v["ops"]]
        verify_range(ops, before)
        return ops

    if expect["valid"]:
        assert [op.id.hex() for op in run()] == expect["ids"]
    else:
        _rejects(run, expect["reason"])


def check_fork_proof(v):
    data = bytes.fromhex(v["encoded"])
    expect = v["expect"]
    if not expect["valid"]:
        _rejects(lambda: ForkProof.decode(data), expect["reason"])
        return
    proof = ForkProof.decode(data)
    assert proof.community.hex() == expect["community"]
    assert proof.author.hex() == expect["author"]
    assert proof.seq == expect["seq"]
    assert [proof.a.id.hex(), proof.b.id.hex()] == expect["ids"]
    assert proof.encode() == data
    assert ForkProof.of(proof.b, proof.a).encode() == data


def check_ingest(v):
    """Chain rules that need the parents (specs/ops.md §6, §8, §9), through the replica with
    no handlers (so every op that passes them is "applied")."""
    replica = Replica()
    outcomes = []
    for h in v["ops"]:
        out = replica.ingest(decode_op(bytes.fromhex(h)))
        outcomes.append([out.status, out.reason if out.status == "invalid" else ""])
    assert outcomes == v["expect"]["outcomes"]
    logged = sorted(i.hex() for i in replica.metas)
    assert logged == v["expect"]["logged"]
    assert replica.pending_count() == 0
    void_from = {author.hex(): f.seq for (_, author), f in replica.forks.items()}
    assert void_from == v["expect"]["void_from"]
    void = sorted(i.hex() for i, m in replica.metas.items() if replica.is_void(m))
    assert void == v["expect"]["void"]


CHECKS = {
    "op": check_op,
    "range": check_range,
    "fork_proof": check_fork_proof,
    "ingest": check_ingest,
}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector(path):
    v = load(path)
    assert set(v) >= {"name", "type", "description", "expect"}
    CHECKS[v["type"]](v)
