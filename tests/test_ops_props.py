"""Property tests for the op envelope and chain verification (specs/ops.md)."""

import hashlib

import cbor2
import nacl.signing
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from node.crdt import opform
from node.crdt.chain import ForkProof, verify_range
from node.crdt.op import (
    MAX_BODY_DEPTH,
    MAX_DEPS,
    NO_COMMUNITY,
    Op,
    OpError,
    canonical,
    decode_op,
    sign_op,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

keys = st.binary(min_size=32, max_size=32).map(nacl.signing.SigningKey)
ids = st.binary(min_size=32, max_size=32)
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=16)
    | st.binary(max_size=16)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
bodies = st.dictionaries(st.text(max_size=8), values, max_size=5)
kinds = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
).filter(lambda k: k != "community.create")


def depth(x, d=0):
    if isinstance(x, dict):
        return max([depth(v, d + 1) for v in x.values()], default=d)
    if isinstance(x, list):
        return max([depth(v, d + 1) for v in x], default=d)
    return d


@st.composite
def op_fields(draw):
    """Fields of an arbitrary well-formed op (genesis or not)."""
    body = draw(bodies)
    assume(depth(body) <= MAX_BODY_DEPTH)
    if draw(st.booleans()):
        return {
            "community": NO_COMMUNITY,
            "seq": 1,
            "prev": None,
            "deps": [],
            "lamport": draw(st.integers(min_value=1, max_value=2**64 - 1)),
            "ts": draw(uint64),
            "kind": "community.create",
            "body": body,
        }
    seq = draw(st.integers(min_value=1, max_value=2**64 - 1))
    prev = draw(ids) if seq > 1 else None
    deps = draw(st.lists(ids, max_size=MAX_DEPS, unique=True))
    assume(prev not in deps)
    community = draw(ids)
    assume(community != NO_COMMUNITY)
    return {
        "community": community,
        "seq": seq,
        "prev": prev,
        "deps": deps,
        "lamport": draw(st.integers(min_value=seq, max_value=2**64 - 1)),
        "ts": draw(uint64),
        "kind": draw(kinds),
        "body": body,
    }


@SETTINGS
@given(keys, op_fields())
def test_decode_of_encode_is_identity(key, fields):
    op = sign_op(key, **fields)
    back = decode_op(op.raw)
    assert back.raw == op.raw and back.id == op.id == hashlib.sha256(op.raw).digest()
    assert back.community == fields["community"]
    assert back.author == bytes(key.verify_key)
    assert (back.seq, back.prev, back.lamport, back.ts, back.kind) == (
        fields["seq"],
        fields["prev"],
        fields["lamport"],
        fields["ts"],
        fields["kind"],
    )
    assert back.deps == tuple(sorted(fields["deps"]))
    assert back.body == fields["body"]
    assert canonical(back.body) == canonical(fields["body"])
    assert canonical({**back.unsigned_map(), "sig": back.sig}) == op.raw
    key.verify_key.verify(back.signing_input(), back.sig)


@SETTINGS
@given(keys, op_fields(), st.data())
def test_any_single_bit_flip_is_rejected(key, fields, data):
    raw = sign_op(key, **fields).raw
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    damaged = bytearray(raw)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(OpError):
        decode_op(bytes(damaged))


@SETTINGS
@given(keys, op_fields(), st.data())
def test_arbitrary_edits_are_rejected_never_crash(key, fields, data):
    raw = bytearray(sign_op(key, **fields).raw)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(raw)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.integers(min_value=0, max_value=255))
        if action == "insert":
            raw.insert(at, byte)
        elif at < len(raw) and action == "delete":
            del raw[at]
        elif at < len(raw):
            raw[at] = byte
    try:
        op = decode_op(bytes(raw))
    except OpError:
        return
    # the only way through is an unchanged op
    assert op.raw == sign_op(key, **fields).raw


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_operror(data):
    with pytest.raises(OpError):
        decode_op(data)


# ---- chains ----------------------------------------------------------------------------


@st.composite
def chains(draw):
    """An authentic chain of one author's ops (from its genesis, or joining a community)."""
    key = draw(keys)
    n = draw(st.integers(min_value=1, max_value=6))
    lamport = draw(st.integers(min_value=1, max_value=5))
    if draw(st.booleans()):
        first = sign_op(
            key,
            community=NO_COMMUNITY,
            seq=1,
            prev=None,
            lamport=1,
            ts=0,
            kind="community.create",
            body={"name": "c"},
        )
        lamport = 1
    else:
        first = sign_op(
            key,
            community=draw(ids.filter(lambda c: c != NO_COMMUNITY)),
            seq=1,
            prev=None,
            deps=[draw(ids)],
            lamport=lamport,
            ts=0,
            kind="membership.join",
            body={},
        )
    ops = [first]
    for seq in range(2, n + 1):
        lamport += draw(st.integers(min_value=1, max_value=3))
        ops.append(
            sign_op(
                key,
                community=first.community_id,
                seq=seq,
                prev=ops[-1].id,
                deps=draw(st.lists(ids, max_size=2, unique=True)),
                lamport=lamport,
                ts=seq,
                kind="note.post",
                body={"n": draw(st.integers(min_value=0, max_value=9))},
            )
        )
    return key, ops


def resign(key, op: Op, **changes) -> Op:
    fields = dict(
        community=op.community,
        seq=op.seq,
        prev=op.prev,
        deps=op.deps,
        lamport=op.lamport,
        ts=op.ts,
        kind=op.kind,
        body=op.body,
    )
    fields.update(changes)
    return sign_op(key, **fields)


def unsigned_edit(op: Op, **changes) -> Op:
    """Change fields but keep the old signature (what a forger without the key can do)."""
    m = {**op.unsigned_map(), "sig": op.sig, **changes}
    return decode_op(canonical(m), verify=False)


def sliced(ops, data):
    i = data.draw(st.integers(min_value=0, max_value=len(ops) - 1))
    j = data.draw(st.integers(min_value=i + 1, max_value=len(ops)))
    return ops[i:j], (ops[i - 1] if i > 0 else None)


@SETTINGS
@given(chains(), st.data())
def test_untampered_ranges_verify(chain, data):
    _, ops = chain
    part, before = sliced(ops, data)
    verify_range(part, before)
    # re-decoding from bytes with verify=False changes nothing
    verify_range([decode_op(o.raw, verify=False) for o in part], before)


TAMPERS = ["edit_body", "flip_sig", "other_key", "resign_same_key", "drop", "swap", "edit_ts"]


@SETTINGS
@given(chains(), st.data(), st.sampled_from(TAMPERS), keys)
def test_tampered_ranges_are_rejected(chain, data, tamper, other_key):
    key, ops = chain
    part, before = sliced(ops, data)
    part = list(part)
    k = data.draw(st.integers(min_value=0, max_value=len(part) - 1))
    victim = part[k]
    last = k == len(part) - 1
    authentic = False
    if tamper == "edit_body":
        part[k] = unsigned_edit(victim, body={"forged": True})
    elif tamper == "edit_ts":
        part[k] = unsigned_edit(victim, ts=victim.ts + 1)
    elif tamper == "flip_sig":
        part[k] = unsigned_edit(victim, sig=bytes([victim.sig[0] ^ 1]) + victim.sig[1:])
    elif tamper == "other_key":
        assume(other_key.verify_key != key.verify_key)
        forged = resign(other_key, victim, body={"forged": True})
        part[k] = unsigned_edit(forged, author=victim.author)
    elif tamper == "resign_same_key":
        part[k] = resign(key, victim, body={"other": True})
        # the author's own new op at the end of a range is authentic (a fork, found elsewhere)
        authentic = last
    elif tamper == "drop":
        assume(len(part) >= 3)
        k = data.draw(st.integers(min_value=1, max_value=len(part) - 2))
        del part[k]
    elif tamper == "swap":
        assume(len(part) >= 2)
        k = data.draw(st.integers(min_value=0, max_value=len(part) - 2))
        part[k], part[k + 1] = part[k + 1], part[k]
    if authentic:
        verify_range(part, before)
    else:
        with pytest.raises(OpError) as e:
            verify_range(part, before)
        assert e.value.reason in {"chain_broken", "bad_signature", "bad_lamport"}


@SETTINGS
@given(chains(), st.data())
def test_fork_proofs_roundtrip_and_resist_bit_flips(chain, data):
    key, ops = chain
    victim = ops[data.draw(st.integers(min_value=0, max_value=len(ops) - 1))]
    twin = resign(key, victim, body={"twin": True})
    assume(not victim.is_genesis)  # a second genesis op is a second community, not a fork
    proof = ForkProof.of(victim, twin)
    encoded = proof.encode()
    back = ForkProof.decode(encoded)
    assert (back.community, back.author, back.seq) == (
        victim.community_id,
        victim.author,
        victim.seq,
    )
    assert {back.a.id, back.b.id} == {victim.id, twin.id}
    bit = data.draw(st.integers(min_value=0, max_value=len(encoded) * 8 - 1))
    damaged = bytearray(encoded)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(OpError):
        ForkProof.decode(bytes(damaged))


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"x": "\ud800"}, "bad_body"),  # a lone surrogate has no UTF-8 form
        ({"x": object()}, "bad_body"),
        ({"x": 1.5}, "bad_body"),
        ({"x": {1, 2}}, "bad_body"),
        ({"x": 2**64}, "bad_body"),
    ],
)
def test_sign_op_reports_bad_bodies_as_operror(body, reason):
    key = nacl.signing.SigningKey(bytes(32))
    with pytest.raises(OpError) as e:
        sign_op(
            key, community=bytes(range(32)), seq=1, prev=None, deps=[bytes(32)],
            lamport=2, ts=0, kind="note.post", body=body,
        )  # fmt: skip
    assert e.value.reason == reason


def test_sign_op_reports_unencodable_fields_as_wrong_type():
    key = nacl.signing.SigningKey(bytes(32))
    with pytest.raises(OpError) as e:
        sign_op(key, community=object(), seq=1, prev=None, lamport=1, ts=0, kind="k", body={})
    assert e.value.reason == "wrong_type"


def test_oversized_fork_proof_is_refused_before_decoding():
    with pytest.raises(OpError) as e:
        ForkProof.decode(bytes(2 * 65536 + 17))
    assert e.value.reason == "too_large"
    with pytest.raises(OpError) as e:
        ForkProof.decode("not bytes")
    assert e.value.reason == "malformed"


# ---- the two decoders ------------------------------------------------------------------
# ``decode_op`` lets libipld's decoder propose the op's map and accepts it only when the
# fields type-check and cbor2 re-encodes it to the very bytes (opform._loads_canonical); anything
# else is decided by the cbor2 path. The property: the result (the op, or the reason it is
# refused) is the cbor2 path's for every input, canonical or not.


def _head(major: int, n: int, widen: int) -> bytes:
    """A CBOR item head, ``widen`` sizes longer than the shortest form (non-canonical)."""
    sizes = [(24, 0), (0x100, 1), (0x10000, 2), (2**32, 4), (2**64, 8)]
    shortest = next(i for i, (bound, _) in enumerate(sizes) if n < bound)
    i = min(shortest + widen, len(sizes) - 1)
    if i == 0:
        return bytes([major << 5 | n])
    size = sizes[i][1]
    return bytes([major << 5 | (23 + i)]) + n.to_bytes(size, "big")


def _encode(x, draw) -> bytes:
    """CBOR of ``x`` with drawn deviations from the canonical form: longer heads, map keys
    out of order, byte strings as CID tags or in chunks, lists of indefinite length."""
    widen = draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
    if x is None or isinstance(x, bool):
        return {None: b"\xf6", True: b"\xf5", False: b"\xf4"}[x]
    if isinstance(x, int):
        return _head(0, x, widen) if x >= 0 else _head(1, -1 - x, widen)
    if isinstance(x, bytes):
        way = draw(st.sampled_from(["plain"] * 6 + ["cid", "chunks"]))
        if way == "cid":
            return b"\xd8\x2a" + _head(2, len(x) + 1, 0) + b"\x00" + x
        if way == "chunks":
            return b"\x5f" + _head(2, len(x), 0) + x + b"\xff"
        return _head(2, len(x), widen) + x
    if isinstance(x, str):
        data = x.encode()
        return _head(3, len(data), widen) + data
    if isinstance(x, list):
        items = b"".join(_encode(v, draw) for v in x)
        if draw(st.sampled_from([False] * 6 + [True])):
            return b"\x9f" + items + b"\xff"
        return _head(4, len(x), widen) + items
    keys = list(x)
    if len(keys) > 1 and draw(st.sampled_from([False] * 6 + [True])):
        keys = draw(st.permutations(keys))
    return _head(5, len(x), widen) + b"".join(_encode(k, draw) + _encode(x[k], draw) for k in keys)


def _refuse(data: bytes):
    raise ValueError("the fast decoder is off")


def _outcome(data: bytes):
    try:
        op = decode_op(data, verify=False)
    except OpError as exc:
        return ("refused", exc.reason)
    return ("op", op.raw, op.id, op.author, op.seq, op.prev, op.deps, op.lamport, op.kind, op.body)


@SETTINGS
@given(keys, op_fields(), st.data())
def test_the_fast_decoder_decides_as_the_cbor2_path(key, fields, data):
    op = sign_op(key, **fields)
    m = cbor2.loads(op.raw)
    encoded = op.raw if data.draw(st.integers(0, 4)) == 0 else _encode(m, data.draw)
    fast = _outcome(encoded)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(opform, "_dag_loads", _refuse)  # the cbor2 path alone
        slow = _outcome(encoded)
    event("canonical" if encoded == op.raw else f"not canonical: {slow[-1]}")
    assert fast == slow
    assert (fast[0] == "op") == (encoded == op.raw)  # only the canonical encoding passes


def test_bytes_that_parse_as_a_cid_are_plain_bytes_to_the_canonical_check():
    """libipld's encoder (the canonical check's fast half) writes bytes that parse as a CID as
    tag 42. An op whose ``prev`` is such bytes is canonical with them plain, and decodes; the
    same op with the CID tag around them is refused, whichever decoder reads it."""
    prev = bytes.fromhex("01da345f0a6eb05cc3ee4d6bc1d746a203efcd4dbaedc6e82ac8ec5dccfa5bc8")
    key = nacl.signing.SigningKey(b"\x07" * 32)
    op = sign_op(key, community=b"\x02" * 32, seq=3, prev=prev, deps=[], lamport=10, ts=3,
                 kind="note.post", body={"n": 9})  # fmt: skip
    assert decode_op(op.raw, verify=True).prev == prev
    tagged = op.raw.replace(b"\x58\x20" + prev, b"\xd8\x2a\x58\x21\x00" + prev)
    assert tagged != op.raw
    with pytest.raises(OpError):
        decode_op(tagged, verify=False)
