import nacl.signing
import pytest

from node.crdt.chain import ForkProof, verify_range
from node.crdt.op import NO_COMMUNITY, OpError, decode_op, sign_op


def _chain(key, n):
    genesis = sign_op(
        key,
        community=NO_COMMUNITY,
        seq=1,
        prev=None,
        lamport=1,
        ts=0,
        kind="community.create",
        body={"name": "c"},
    )
    ops = [genesis]
    for i in range(2, n + 1):
        ops.append(
            sign_op(
                key,
                community=genesis.id,
                seq=i,
                prev=ops[-1].id,
                lamport=i,
                ts=i,
                kind="note",
                body={"i": i},
            )
        )
    return ops


def test_roundtrip_and_range():
    key = nacl.signing.SigningKey.generate()
    ops = _chain(key, 5)
    assert decode_op(ops[3].raw) == ops[3]
    verify_range(ops)
    assert ops[0].community_id == ops[1].community


def test_fork_proof_rejects_same_op():
    key = nacl.signing.SigningKey.generate()
    ops = _chain(key, 2)
    other = sign_op(
        key, community=ops[0].id, seq=2, prev=ops[0].id, lamport=2, ts=9, kind="note", body={}
    )
    proof = ForkProof.of(ops[1], other)
    assert ForkProof.decode(proof.encode()).a == proof.a
    with pytest.raises(OpError) as e:
        ForkProof.of(ops[1], ops[1])
    assert e.value.reason == "fork_same_op"
