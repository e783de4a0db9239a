import pytest

from node.crdt.chain import ForkProof, verify_range
from node.crdt.op import OpError, decode_op
from tests.factory import community, key, twin


def test_roundtrip_and_range():
    ops = community(key(20), 5)
    assert decode_op(ops[3].raw) == ops[3]
    verify_range(ops)
    assert ops[0].community_id == ops[1].community


def test_fork_proof_rejects_same_op():
    k = key(20)
    ops = community(k, 2)
    other = twin(k, ops[1], ts=9, body={})
    proof = ForkProof.of(ops[1], other)
    assert ForkProof.decode(proof.encode()).a == proof.a
    with pytest.raises(OpError) as e:
        ForkProof.of(ops[1], ops[1])
    assert e.value.reason == "fork_same_op"


def test_factory_histories_are_valid_for_a_replica():
    from node.crdt.replica import APPLIED, Replica
    from tests.factory import chain, history, keys

    _, ops = history(5, 60, seed=3)
    k0, k1 = keys(2, start=30)
    log = community(k0, 3)
    log += chain(k1, log[0], 2, deps=[log[-1]])
    r = Replica()
    assert {r.ingest(o).status for o in ops + log} == {APPLIED}
    assert history(5, 60, seed=3)[1] == ops  # deterministic
