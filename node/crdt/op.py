"""The op: the signed, hash-chained unit that every node replicates.

:mod:`node.crdt.opform` says what bytes are an op (fields, limits, the strict decode to its
map); this module builds the :class:`Op`, signs it, and checks signatures.
``specs/ops.md`` is the normative description; the two modules are its reference
implementation.
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

from .opform import (
    FIELDS,
    GENESIS_KIND,
    ID_SIZE,
    KEY_SIZE,
    MAX_BODY_DEPTH,
    MAX_DEPS,
    MAX_KIND_LEN,
    MAX_OP_ITEMS,
    MAX_OP_SIZE,
    NO_COMMUNITY,
    REQUIRED,
    SIG_SIZE,
    SIGNING_DOMAIN,
    VERSION,
    OpError,
    _require,
    canonical,
    op_map,
)

__all__ = [  # the names of specs/ops.md, from here or from opform
    "FIELDS",
    "GENESIS_KIND",
    "ID_SIZE",
    "KEY_SIZE",
    "MAX_BODY_DEPTH",
    "MAX_DEPS",
    "MAX_KIND_LEN",
    "MAX_OP_ITEMS",
    "MAX_OP_SIZE",
    "NO_COMMUNITY",
    "REQUIRED",
    "SIG_SIZE",
    "SIGNING_DOMAIN",
    "VERSION",
    "Op",
    "OpError",
    "canonical",
    "decode_op",
    "decode_unverified",
    "op_id",
    "sign_op",
    "signing_input",
    "signing_input_of",
    "verify_signature",
]


def op_id(encoded: bytes) -> bytes:
    """The id of an op is the SHA-256 of its complete signed encoding."""
    return hashlib.sha256(encoded).digest()


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
        """Check this op's own Ed25519 signature, raising ``OpError('bad_signature')``.
        The signed bytes are cut out of ``raw`` (what the id hashes), not re-encoded."""
        verify_signature(self.author, signing_input_of(self), self.sig)


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
    try:
        message = signing_input(unsigned)
    except (cbor2.CBOREncodeError, UnicodeEncodeError, TypeError, ValueError, RecursionError):
        # Something CBOR cannot carry (an object, a lone surrogate, a cycle): report it the
        # way a received op would be reported, never as a crash of the caller.
        raise OpError(_unencodable(unsigned), "a value cannot be encoded as CBOR") from None
    sig = key.sign(message).signature
    return decode_op(canonical({**unsigned, "sig": sig}), verify=False)


def _unencodable(unsigned: Mapping[str, Any]) -> str:
    try:
        canonical(unsigned["body"])
    except Exception:
        return "bad_body"
    return "wrong_type"


def decode_op(data: bytes, *, verify: bool = True) -> Op:
    """Decode and check one op. ``verify=False`` skips only the signature check (used by
    chain verification, which checks one signature per range)."""
    op, m = _decode(data)
    if verify:
        verify_signature(op.author, _signing_input_of_canonical(op.raw, m), op.sig)
    return op


def decode_unverified(data: bytes, oid: bytes | None = None) -> tuple[Op, bytes]:
    """``decode_op(data, verify=False)`` plus the op's signing input (cut from the encoding,
    not re-encoded), for callers that check many signatures in one go: the op is authentic
    once ``verify_signature(op.author, message, op.sig)`` passes. ``oid``: ``op_id(data)``
    if the caller already computed it (it is not hashed again)."""
    op, m = _decode(data, oid)
    return op, _signing_input_of_canonical(op.raw, m)


def _decode(data: bytes, oid: bytes | None = None) -> tuple[Op, dict[str, Any]]:
    if type(data) is not bytes:
        _require(isinstance(data, (bytes, bytearray)), "malformed", "op must be bytes")
        data = bytes(data)
    m = op_map(data)
    return (
        _new_op(
            m["v"],
            m["community"],
            m["author"],
            m["seq"],
            m.get("prev"),
            tuple(m["deps"]),
            m["lamport"],
            m["ts"],
            m["kind"],
            m["body"],
            m["sig"],
            data,
            op_id(data) if oid is None else oid,
        ),
        m,
    )


_FIELD_SETTERS = tuple(
    Op.__dict__[f].__set__
    for f in ("v", "community", "author", "seq", "prev", "deps", "lamport", "ts", "kind")
    + ("body", "sig", "raw", "id")
)


def _new_op(v, community, author, seq, prev, deps, lamport, ts, kind, body, sig, raw, oid) -> Op:
    """``Op(...)`` for the decoder, a third of the cost: it sets the slots directly instead of
    going through the frozen dataclass ``__init__`` (one ``object.__setattr__`` call per
    field). Same object; this runs for every op received."""
    op = object.__new__(Op)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = _FIELD_SETTERS
    s0(op, v)
    s1(op, community)
    s2(op, author)
    s3(op, seq)
    s4(op, prev)
    s5(op, deps)
    s6(op, lamport)
    s7(op, ts)
    s8(op, kind)
    s9(op, body)
    s10(op, sig)
    s11(op, raw)
    s12(op, oid)
    return op


_SIG_ENTRY = b"\x63sig\x58\x40"  # text key "sig", then the header of a 64-byte string


def _uint_len(n: int) -> int:
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 2**32 else 9


def _signing_input_of_canonical(data: bytes, m: dict[str, Any]) -> bytes:
    """The signing input of a canonical op, cut out of its encoding instead of re-encoding.

    In canonical order the map is: header, "v", "ts", "seq", "sig", then the rest; the unsigned
    map is the same bytes without the "sig" entry and with a header one entry smaller.
    """
    cut = _cut_signing_input(data, m["v"], m["ts"], m["seq"])
    if cut is None:  # never for canonical input
        return signing_input({k: v for k, v in m.items() if k != "sig"})
    return cut


def signing_input_of(op: Op) -> bytes:
    """The signing input of a decoded op (from :func:`decode_op` / :func:`decode_unverified`
    / :func:`sign_op`), cut out of ``op.raw`` like the decoder does: no re-encoding."""
    cut = _cut_signing_input(op.raw, op.v, op.ts, op.seq)
    return op.signing_input() if cut is None else cut


def _cut_signing_input(data: bytes, v: int, ts: int, seq: int) -> bytes | None:
    start = 1 + (2 + _uint_len(v)) + (3 + _uint_len(ts)) + (4 + _uint_len(seq))
    end = start + len(_SIG_ENTRY) + SIG_SIZE
    if data[start : start + len(_SIG_ENTRY)] != _SIG_ENTRY or not 0xA1 <= data[0] <= 0xB7:
        return None
    return b"".join((SIGNING_DOMAIN, bytes((data[0] - 1,)), data[1:start], data[end:]))
