"""The bound on CBOR data items per op: decoding cost stays proportional to an op's size."""

from __future__ import annotations

import cbor2
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crdt import opform
from node.crdt.op import MAX_OP_ITEMS, OpError, canonical, decode_op, signing_input

KEY = nacl.signing.SigningKey(b"\x05" * 32)


def raw_op(body: dict) -> bytes:
    """A signed op built without ``sign_op`` (which refuses what decoding refuses)."""
    unsigned = {
        "v": 1, "community": b"\x02" * 32, "author": bytes(KEY.verify_key), "seq": 1,
        "deps": [b"\x03" * 32], "lamport": 2, "ts": 0, "kind": "note.post", "body": body,
    }  # fmt: skip
    return canonical({**unsigned, "sig": KEY.sign(signing_input(unsigned)).signature})


def items(obj) -> int:
    """The spec's count (specs/ops.md §2), written independently of the decoder."""
    if isinstance(obj, dict):
        return 1 + sum(items(k) + items(v) for k, v in obj.items())
    if isinstance(obj, list):
        return 1 + sum(items(v) for v in obj)
    return 1


# Leaves with heads of every width: 1-byte ints, 9-byte ints, negatives, long text and bytes
# (length in a following byte or two), multi-byte UTF-8, simple values.
LEAVES = [0, 23, 24, 2**40, -5, -(2**63), "t", "é" * 30, b"bb", bytes(300), True, None, "x" * 70]


@settings(max_examples=40, deadline=None)
@given(
    leaf=st.sampled_from(LEAVES),
    other=st.sampled_from(LEAVES),
    nested=st.integers(0, 300),
    keys=st.integers(0, 300),
    delta=st.integers(-3, 3),
)
def test_decoding_rejects_exactly_the_ops_over_the_item_bound(leaf, other, nested, keys, delta):
    body = {"n": [[leaf, other]] * nested, "m": {f"k{i}": other for i in range(keys)}, "a": []}
    filler = MAX_OP_ITEMS + delta - items(cbor2.loads(raw_op(body)))
    body["a"] = [leaf] * filler
    raw = raw_op(body)
    if len(raw) > opform.MAX_OP_SIZE:
        return  # too_large comes first; not what this test is about
    total = items(cbor2.loads(raw))
    assert total == MAX_OP_ITEMS + delta
    if total > MAX_OP_ITEMS:
        with pytest.raises(OpError) as exc:
            decode_op(raw)
        assert exc.value.reason == "too_many_items"
    else:
        assert decode_op(raw).body == body


def test_a_body_of_many_small_items_is_refused_before_it_is_decoded(monkeypatch):
    """~60 KiB of one-byte integers: the item count stops it before either CBOR decoder (which
    would build 60,000 objects) and the checks run."""
    raw = raw_op({"x": [1] * 60_000})
    calls = []
    for module, name in ((cbor2, "loads"), (opform, "_dag_loads")):
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, real=real, **k: calls.append(1) or real(*a, **k)
        )
    with pytest.raises(OpError) as exc:
        decode_op(raw)
    assert exc.value.reason == "too_many_items" and not calls
    decode_op(raw_op({"x": [1] * 100}))  # an ordinary op still goes through the decoder
    assert calls


def test_the_count_stops_at_the_limit_and_skips_string_contents():
    # 64 KiB of text is one item: its contents are never looked at as heads.
    assert not opform._too_many_items(canonical({"x": "\x18" * 60_000}), MAX_OP_ITEMS)
    # Indefinite-length arrays (not canonical, so refused later) are counted too.
    indefinite = b"\x9f" + b"\x01" * (MAX_OP_ITEMS + 1) + b"\xff"
    assert opform._too_many_items(indefinite, MAX_OP_ITEMS)
    with pytest.raises(OpError) as exc:
        decode_op(indefinite)
    assert exc.value.reason == "too_many_items"


@pytest.mark.parametrize("depth", [100, 4_000, 4_900])
def test_deep_nesting_under_the_item_bound_is_refused_by_both_decoders(depth):
    """Arrays nested thousands deep fit under the item bound: libipld gives up (a recursion
    limit), and the op is refused with the cbor2 path's reason, never a crash."""
    data = b"\xa1\x64body" + b"\x81" * depth + b"\x00"
    assert opform._loads_canonical(data) is None
    with pytest.raises(OpError) as exc:
        decode_op(data, verify=False)
    assert exc.value.reason in ("malformed", "missing_field")
