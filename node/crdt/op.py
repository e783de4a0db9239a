"""The op: the signed, hash-chained unit that every node replicates.

An op is a canonical CBOR map (RFC 8949 core deterministic encoding, as produced by
``cbor2.dumps(..., canonical=True)``) with exactly the fields in ``FIELDS``.
``specs/ops.md`` is the normative description; this module is its reference implementation.

Decoding is strict on purpose: two nodes must never disagree about whether some bytes are an
op, so anything that is not exactly the canonical form is rejected with a reason code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2
import nacl.bindings
import nacl.exceptions
import nacl.signing

VERSION = 1
MAX_OP_SIZE = 64 * 1024
MAX_DEPS = 16
MAX_KIND_LEN = 64
MAX_BODY_DEPTH = 16
ID_SIZE = 32
KEY_SIZE = 32
SIG_SIZE = 64
SIGNING_DOMAIN = b"we/op/v1\n"
# The genesis op of a community names no community: the community id *is* the genesis op id.
GENESIS_KIND = "community.create"
NO_COMMUNITY = bytes(ID_SIZE)

REQUIRED = ("v", "community", "author", "seq", "deps", "lamport", "ts", "kind", "body", "sig")
FIELDS = frozenset(REQUIRED) | {"prev"}


class OpError(ValueError):
    """An op was rejected. ``reason`` is a stable code listed in ``specs/ops.md``."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def _require(cond: bool, reason: str, detail: str) -> None:
    if not cond:
        raise OpError(reason, detail)


def op_id(encoded: bytes) -> bytes:
    """The id of an op is the SHA-256 of its complete signed encoding."""
    return hashlib.sha256(encoded).digest()


def canonical(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


@dataclass(frozen=True, slots=True, eq=False)
class Op:
    """A decoded, well-formed op. Construct with :func:`sign_op` or :func:`decode_op`."""

    v: int
    community: bytes
    author: bytes
    seq: int
    prev: bytes | None
    deps: tuple[bytes, ...]
    lamport: int
    ts: int
    kind: str
    body: Mapping[str, Any]
    sig: bytes
    raw: bytes = field(repr=False)
    id: bytes = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def is_genesis(self) -> bool:
        return self.kind == GENESIS_KIND

    @property
    def community_id(self) -> bytes:
        """The community this op belongs to (its own id for a genesis op)."""
        return self.id if self.is_genesis else self.community

    @property
    def order_key(self) -> tuple[int, bytes, bytes]:
        """The total order used by every "latest wins" rule: (lamport, author, id)."""
        return (self.lamport, self.author, self.id)

    def unsigned_map(self) -> dict[str, Any]:
        m: dict[str, Any] = {
            "v": self.v,
            "community": self.community,
            "author": self.author,
            "seq": self.seq,
            "deps": list(self.deps),
            "lamport": self.lamport,
            "ts": self.ts,
            "kind": self.kind,
            "body": self.body,
        }
        if self.prev is not None:
            m["prev"] = self.prev
        return m

    def signing_input(self) -> bytes:
        return signing_input(self.unsigned_map())

    def verify_signature(self) -> None:
        """Check this op's own Ed25519 signature, raising ``OpError('bad_signature')``."""
        verify_signature(self.author, self.signing_input(), self.sig)


def signing_input(unsigned: Mapping[str, Any]) -> bytes:
    return SIGNING_DOMAIN + canonical(dict(unsigned))


def verify_signature(author: bytes, message: bytes, sig: bytes) -> None:
    try:
        nacl.bindings.crypto_sign_open(sig + message, author)
    except (nacl.exceptions.BadSignatureError, ValueError) as exc:
        raise OpError("bad_signature", "Ed25519 signature does not verify") from exc


def sign_op(
    key: nacl.signing.SigningKey,
    *,
    community: bytes,
    seq: int,
    prev: bytes | None,
    deps: Sequence[bytes] = (),
    lamport: int,
    ts: int,
    kind: str,
    body: Mapping[str, Any],
) -> Op:
    """Build and sign an op. The result is checked exactly as a received op would be."""
    unsigned: dict[str, Any] = {
        "v": VERSION,
        "community": community,
        "author": bytes(key.verify_key),
        "seq": seq,
        "deps": sorted(set(deps)),
        "lamport": lamport,
        "ts": ts,
        "kind": kind,
        "body": dict(body),
    }
    if prev is not None:
        unsigned["prev"] = prev
    sig = key.sign(signing_input(unsigned)).signature
    return decode_op(canonical({**unsigned, "sig": sig}), verify=False)


def decode_op(data: bytes, *, verify: bool = True) -> Op:
    """Decode and check one op. ``verify=False`` skips only the signature check (used by
    chain verification, which checks one signature per range)."""
    _require(isinstance(data, (bytes, bytearray)), "malformed", "op must be bytes")
    data = bytes(data)
    _require(len(data) <= MAX_OP_SIZE, "too_large", f"{len(data)} bytes > {MAX_OP_SIZE}")
    try:
        m = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for bad input
        raise OpError("malformed", f"not valid CBOR ({exc.__class__.__name__})") from exc
    _require(isinstance(m, dict), "malformed", "op must be a CBOR map")
    missing = [f for f in REQUIRED if f not in m]
    _require(not missing, "missing_field", ", ".join(missing))
    unknown = sorted(str(k) for k in m if k not in FIELDS)
    _require(not unknown, "unknown_field", ", ".join(unknown))
    _check_types(m)
    _require(canonical(m) == data, "not_canonical", "encoding is not canonical CBOR")
    op = Op(
        v=m["v"],
        community=m["community"],
        author=m["author"],
        seq=m["seq"],
        prev=m.get("prev"),
        deps=tuple(m["deps"]),
        lamport=m["lamport"],
        ts=m["ts"],
        kind=m["kind"],
        body=m["body"],
        sig=m["sig"],
        raw=data,
        id=op_id(data),
    )
    if verify:
        op.verify_signature()
    return op


def _is_uint(x: Any) -> bool:
    return type(x) is int and 0 <= x < 2**64


def _is_bytes(x: Any, size: int) -> bool:
    return type(x) is bytes and len(x) == size


def _check_types(m: dict[str, Any]) -> None:
    _require(m["v"] == VERSION and type(m["v"]) is int, "bad_version", f"v={m['v']!r}")
    _require(_is_bytes(m["author"], KEY_SIZE), "wrong_type", "author must be 32 bytes")
    _require(_is_bytes(m["sig"], SIG_SIZE), "wrong_type", "sig must be 64 bytes")
    _require(_is_bytes(m["community"], ID_SIZE), "wrong_type", "community must be 32 bytes")
    for name in ("seq", "lamport", "ts"):
        _require(_is_uint(m[name]), "wrong_type", f"{name} must be an unsigned integer")
    kind = m["kind"]
    _require(
        type(kind) is str and 0 < len(kind) <= MAX_KIND_LEN and kind.isascii(),
        "bad_kind",
        "kind must be 1-64 ASCII characters",
    )
    _require(type(m["body"]) is dict, "wrong_type", "body must be a map")
    _check_value(m["body"], 0)
    seq = m["seq"]
    _require(seq >= 1, "bad_seq", "seq starts at 1")
    _require(m["lamport"] >= seq, "bad_lamport", "lamport must be at least seq")
    if seq == 1:
        _require("prev" not in m, "bad_prev", "seq 1 has no prev")
    else:
        _require("prev" in m, "bad_prev", f"seq {seq} needs prev")
        _require(_is_bytes(m["prev"], ID_SIZE), "wrong_type", "prev must be 32 bytes")
    genesis = kind == GENESIS_KIND
    _require(
        (m["community"] == NO_COMMUNITY) == genesis,
        "bad_community",
        "only a genesis op has an all-zero community",
    )
    if genesis:
        _require(seq == 1 and not m["deps"], "bad_community", "genesis op is seq 1 with no deps")
    deps = m["deps"]
    _require(type(deps) is list, "wrong_type", "deps must be an array")
    _require(len(deps) <= MAX_DEPS, "bad_deps", f"more than {MAX_DEPS} deps")
    _require(all(_is_bytes(d, ID_SIZE) for d in deps), "wrong_type", "each dep is 32 bytes")
    _require(
        all(a < b for a, b in zip(deps, deps[1:], strict=False)),
        "bad_deps",
        "deps must be strictly ascending",
    )
    _require(m.get("prev") not in deps, "bad_deps", "prev must not be repeated in deps")


def _check_value(x: Any, depth: int) -> None:
    """Body values are restricted to types that every implementation decodes identically:
    no floats (determinism), no tags, no non-text map keys."""
    _require(depth <= MAX_BODY_DEPTH, "bad_body", "body nested too deeply")
    t = type(x)
    if t is dict:
        for k, v in x.items():
            _require(type(k) is str, "bad_body", "map keys must be text")
            _check_value(v, depth + 1)
    elif t is list:
        for v in x:
            _check_value(v, depth + 1)
    elif t is int:
        _require(-(2**63) <= x < 2**64, "bad_body", "integer out of range")
    else:
        _require(
            t in (str, bytes, bool) or x is None,
            "bad_body",
            f"{t.__name__} values are not allowed in a body",
        )
