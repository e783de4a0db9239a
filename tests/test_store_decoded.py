"""Store ingest of ops the caller already decoded (sync, gossip): not decoded again, still
authenticated, and stored exactly as the same ops given as bytes."""

import cbor2

import node.store.store as store_module
import node.store.verify as verify_module
from node.crdt.op import canonical, decode_unverified
from node.store import Store
from tests.factory import PUT_HANDLERS, community, key, twin


def _decoded(ops):
    return [decode_unverified(op.raw)[0] for op in ops]


def _no_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("an already decoded op was decoded again")

    monkeypatch.setattr(store_module, "decode_op", fail)
    monkeypatch.setattr(store_module, "decode_unverified", fail)


def test_decoded_ops_are_not_decoded_again_and_match_bytes(tmp_path, monkeypatch):
    ops = community(key(50), 6, kind="put", body=lambda i: {"name": "a", "value": i})
    with Store.open(tmp_path / "raw.db", PUT_HANDLERS) as a:
        by_bytes = a.ingest_ranges([[op.raw for op in ops[:3]], [op.raw for op in ops[3:]]])
        a.ingest([op.raw for op in ops])
        heights, state = a.heights(ops[0].id), sorted(a.state.items())
    decoded = _decoded(ops)
    with Store.open(tmp_path / "ops.db", PUT_HANDLERS) as b:
        _no_decoding(monkeypatch)
        by_ops = b.ingest_ranges([decoded[:3], decoded[3:]])
        assert [o.status for o in b.ingest(decoded)] == ["duplicate"] * 6
        assert by_ops == by_bytes and {o.status for r in by_ops for o in r} == {"applied"}
        assert b.heights(ops[0].id) == heights and sorted(b.state.items()) == state
    monkeypatch.undo()
    with Store.open(tmp_path / "ops.db", PUT_HANDLERS) as b:  # the raw bytes were stored
        assert [b.get_op(op.id).raw for op in ops] == [op.raw for op in ops]


def test_decoded_ops_with_a_bad_signature_are_refused(tmp_path, monkeypatch):
    k = key(51)
    ops = community(k, 3)
    forged = dict(cbor2.loads(ops[2].raw), sig=bytes(64))
    bad = decode_unverified(canonical(forged))[0]
    other = twin(k, ops[1])
    with Store.open(tmp_path / "n.db", {}) as s:  # a pure op log
        _no_decoding(monkeypatch)
        out = s.ingest_range([*_decoded(ops[:2]), bad])
        assert {(o.status, o.reason) for o in out} == {("invalid", "bad_signature")}
        assert [o.op_id for o in out] == [ops[0].id, ops[1].id, bad.id]
        assert s.ingest([bad])[0].reason == "bad_signature"
        assert [o.status for o in s.ingest(_decoded([ops[0], other]))] == ["applied"] * 2
        assert s.heights(ops[0].id) == {k.verify_key.encode(): (2, other.id)}


def test_verified_skips_only_the_signature_check_of_decoded_ops(tmp_path, monkeypatch):
    """``verified=True`` (the gossip validator already checked the signatures) saves the second
    check for decoded Ops only: bytes are always checked, and every other rule still applies."""
    k = key(52)
    ops = community(k, 3)
    checks = []
    real = verify_module.verify_signature
    monkeypatch.setattr(verify_module, "verify_signature", lambda *a: checks.append(a) or real(*a))
    forged = canonical(dict(cbor2.loads(ops[2].raw), sig=bytes(64)))
    with Store.open(tmp_path / "v.db", {}) as s:
        assert [o.status for o in s.ingest(ops[:2], verified=True)] == ["applied"] * 2
        assert checks == []
        assert s.ingest([forged], verified=True)[0].reason == "bad_signature"
        assert len(checks) == 1
        gap = _decoded([community(k, 5)[4]])  # seq 5 with seq 3 and 4 missing: still waits
        assert s.ingest(gap, verified=True)[0].status == "pending"
