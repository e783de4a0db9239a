"""What bytes are an op: its fields, their limits, the reason codes, and the strict check
that takes an encoding to the op's map (``specs/ops.md``; :mod:`node.crdt.op` builds the
:class:`Op` from the map and checks signatures).

An op is a canonical CBOR map (RFC 8949 core deterministic encoding, as produced by
``cbor2.dumps(..., canonical=True)``) with exactly the fields in ``FIELDS``. Decoding is
strict on purpose: two nodes must never disagree about whether some bytes are an op, so
anything that is not exactly the canonical form is rejected with a reason code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cbor2
import libipld

VERSION = 1
MAX_OP_SIZE = 64 * 1024
# CBOR data items in one op (every map key and value and array element at any depth, the op
# map itself included). Decoding costs per item far more than per byte (~1 us for an empty
# array, ~40 ns for a byte of text), so without this bound 64 KiB of one-byte items costs
# hundreds of ordinary ops. A seal naming 1500 heads, the largest body a rule allows, holds
# about 4,550.
MAX_OP_ITEMS = 5_000
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


def canonical(obj: Any) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def op_map(data: bytes) -> dict[str, Any]:
    """The map of the op encoded in ``data``, every check of ``specs/ops.md`` passed but the
    signature's and those that need other ops; raises the first ``OpError`` that applies."""
    if len(data) > MAX_OP_SIZE:
        raise OpError("too_large", f"{len(data)} bytes > {MAX_OP_SIZE}")
    # Every item takes at least one byte, so only a longer encoding can hold too many.
    if len(data) > MAX_OP_ITEMS and _too_many_items(data, MAX_OP_ITEMS):
        raise OpError("too_many_items", f"more than {MAX_OP_ITEMS} CBOR data items")
    m = _loads_canonical(data)
    return _decode_checking(data) if m is None else m


def _loads_canonical(data: bytes) -> dict[str, Any] | None:
    """The op's map if ``data`` is a well-typed canonical op, else None (the caller then finds
    the reason with :func:`_decode_checking`).

    libipld's Rust DAG-CBOR decoder takes a quarter of cbor2's time, but it is a different
    decoder, so it only proposes: the op is accepted when its fields type-check and cbor2
    encodes the decoded map back to exactly ``data``. cbor2 decodes its own encoding of a map
    of these types to that same map, so whatever is accepted here, the checking path accepts
    too and builds the same op; anything else (libipld's quirks included: it reads a CID tag
    as bytes, and does not insist on shortest integers) goes down the checking path.

    libipld's decoder refuses maps whose keys are not text, or not unique and sorted as
    canonical CBOR sorts them (by length, then bytewise), at every depth: so a map it returns
    is in canonical order, and an op's holds exactly its fields when it has as many keys as
    the required fields it names (``_check_types`` reads each: a missing one is a KeyError)
    plus ``prev`` if present."""
    try:
        m = _dag_loads(data)
    except Exception:  # libipld raises ValueError and RecursionError on bad input
        return None
    try:
        if (
            type(m) is dict
            and len(m) == (_FIELD_COUNT if "prev" in m else _FIELD_COUNT - 1)
            and _check_types(m, keys=False)
            and _encodes_to(m, data)
        ):
            return m
    except (OpError, KeyError):
        pass
    return None


def _in_field_order(m: dict[str, Any]) -> bool:
    """Whether the top-level keys are exactly an op's fields in canonical order (every
    canonical op's are)."""
    keys = tuple(m)
    return keys == _ORDER_WITH_PREV or keys == _ORDER_NO_PREV


def _is_canonical(m: dict[str, Any], data: bytes) -> bool:
    """For a map in field order (:func:`_in_field_order`): whether it is the canonical op
    ``data`` (raises ``OpError`` for a field of the wrong type): its types are right, every
    nested map's keys are in canonical order (``_check_types``), and it encodes to ``data``."""
    return _check_types(m) and _encodes_to(m, data)


def _encodes_to(m: dict[str, Any], data: bytes) -> bool:
    """Whether a canonical encoder gives ``data`` back for ``m``, a well-typed op map whose
    maps all have their keys in canonical order: then ``data`` is canonical. libipld's DAG-CBOR
    encoder is one (shortest heads, keys by length then bytewise), at a fifth of cbor2's cost
    (0.5 against 2.4 us an op), but for one thing: bytes that parse as a CID it writes as one
    (tag 42, which ops may not hold). Its answer is taken when it wrote no tag 42 (every CID
    starts with ``d8 2a``; a long byte string holds those two bytes once in a while too: then,
    and whenever the two differ, cbor2's plain encoder decides, as it always did)."""
    try:
        encoded = _dag_dumps(m)
    except Exception:  # (libipld raises several types)
        encoded = None
    if encoded == data and _CID_TAG not in encoded:
        return True
    return cbor2.dumps(m) == data


def _decode_checking(data: bytes) -> dict[str, Any]:
    """The op's map, decoded by cbor2 and checked field by field: raises the first
    ``OpError`` that applies (the reasons of specs/ops.md)."""
    try:
        m = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types for bad input
        raise OpError("malformed", f"not valid CBOR ({exc.__class__.__name__})") from exc
    if type(m) is not dict:
        _require(isinstance(m, dict), "malformed", "op must be a CBOR map")
    if _in_field_order(m):  # every canonical op: the short test
        if not _is_canonical(m, data):
            raise OpError("not_canonical", _NOT_CANONICAL)
    else:
        missing = [f for f in REQUIRED if f not in m]
        _require(not missing, "missing_field", ", ".join(missing))
        unknown = sorted(str(k) for k in m if k not in FIELDS)
        _require(not unknown, "unknown_field", ", ".join(unknown))
        _check_types(m)
        _require(canonical(m) == data, "not_canonical", _NOT_CANONICAL)
    return m


def _too_many_items(data: bytes, limit: int) -> bool:
    """Whether ``data`` holds more than ``limit`` CBOR data items, counted from the item heads
    alone (string contents are skipped, nothing is built), before the full decode spends
    ~1 us on each. Anything it does not expect ends the count: the decoder then rejects it."""
    pos, end, count = 0, len(data), 0
    while pos < end:
        head = data[pos]
        pos += 1
        if head == 0xFF:
            continue  # the break that ends an indefinite-length item is not an item
        info = head & 31
        if info < 24:
            arg = info
        elif info < 28:
            size = 1 << (info - 24)
            arg = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif info == 31:
            arg = 0  # indefinite length: its chunks or items follow, each with a head
        else:
            return False  # reserved: malformed
        count += 1
        if count > limit:
            return True
        if 0x40 <= head < 0x80:  # byte or text string: skip its contents
            pos += arg
    return False


_NOT_CANONICAL = "encoding is not canonical CBOR"
_dag_loads = libipld.decode_dag_cbor
_dag_dumps = libipld.encode_dag_cbor
_CID_TAG = b"\xd8\x2a"  # CBOR tag 42 (a CID), as libipld's encoder writes it
# Canonical CBOR sorts map keys by encoded length, then bytewise: a canonical op's top-level
# keys come in exactly one of these orders (``v, ts, seq, sig, body, ...``).
_ORDER_WITH_PREV = tuple(sorted(FIELDS, key=lambda k: (len(k.encode()), k.encode())))
_ORDER_NO_PREV = tuple(k for k in _ORDER_WITH_PREV if k != "prev")


def _check_types(m: dict[str, Any], keys: bool = True) -> bool:
    """Check field types and ranges (raising ``OpError``); return whether every map in the
    body has its keys in canonical order (the caller decides what an unordered map means).
    ``keys=False``: the caller knows the keys are text in canonical order (libipld's decoder
    made the map), so they are not looked at; returns True.
    Written as plain ``if``s because it runs for every op received."""
    v = m["v"]
    if type(v) is not int or v != VERSION:
        raise OpError("bad_version", f"v={v!r}")
    author, sig, community = m["author"], m["sig"], m["community"]
    if type(author) is not bytes or len(author) != KEY_SIZE:
        raise OpError("wrong_type", "author must be 32 bytes")
    if type(sig) is not bytes or len(sig) != SIG_SIZE:
        raise OpError("wrong_type", "sig must be 64 bytes")
    if type(community) is not bytes or len(community) != ID_SIZE:
        raise OpError("wrong_type", "community must be 32 bytes")
    seq, lamport, ts = m["seq"], m["lamport"], m["ts"]
    if not (
        type(seq) is int
        and type(lamport) is int
        and type(ts) is int
        and 0 <= seq < _INT_END
        and 0 <= lamport < _INT_END
        and 0 <= ts < _INT_END
    ):  # one test for the usual case; the loop names the first field that fails
        for name, x in (("seq", seq), ("lamport", lamport), ("ts", ts)):
            if type(x) is not int or not 0 <= x < _INT_END:
                raise OpError("wrong_type", f"{name} must be an unsigned integer")
    kind = m["kind"]
    if type(kind) is not str or not 0 < len(kind) <= MAX_KIND_LEN or not kind.isascii():
        raise OpError("bad_kind", "kind must be 1-64 ASCII characters")
    body = m["body"]
    if type(body) is not dict:
        raise OpError("wrong_type", "body must be a map")
    ordered = _check_value(body, 0, keys)
    if seq < 1:
        raise OpError("bad_seq", "seq starts at 1")
    if lamport < seq:
        raise OpError("bad_lamport", "lamport must be at least seq")
    prev = m.get("prev")
    if seq == 1:
        if "prev" in m:
            raise OpError("bad_prev", "seq 1 has no prev")
    else:
        if "prev" not in m:
            raise OpError("bad_prev", f"seq {seq} needs prev")
        if type(prev) is not bytes or len(prev) != ID_SIZE:
            raise OpError("wrong_type", "prev must be 32 bytes")
    genesis = kind == GENESIS_KIND
    deps = m["deps"]
    if (community == NO_COMMUNITY) != genesis:
        raise OpError("bad_community", "only a genesis op has an all-zero community")
    if genesis and (seq != 1 or deps):
        raise OpError("bad_community", "genesis op is seq 1 with no deps")
    if type(deps) is not list:
        raise OpError("wrong_type", "deps must be an array")
    if len(deps) > MAX_DEPS:
        raise OpError("bad_deps", f"more than {MAX_DEPS} deps")
    if deps:
        last = b""
        for d in deps:  # types first for every dep, then the order (the reasons' priority)
            if type(d) is not bytes or len(d) != ID_SIZE:
                raise OpError("wrong_type", "each dep is 32 bytes")
        for d in deps:
            if not last < d:
                raise OpError("bad_deps", "deps must be strictly ascending")
            last = d
    if prev is not None and prev in deps:
        raise OpError("bad_deps", "prev must not be repeated in deps")
    return ordered


_FIELD_COUNT = len(FIELDS)
_LEAVES = frozenset((str, bytes, bool, type(None)))
_INT_MIN, _INT_END = -(2**63), 2**64


def _children_ordered(values: Iterable[Any], inline: bool, depth: int, keys: bool) -> bool:
    """Check the values inside one map or array (at ``depth + 1``); True when every map among
    them has canonically ordered keys."""
    ordered = True
    for v in values:
        tv = type(v)
        if inline and tv in _LEAVES:
            pass
        elif inline and tv is int:
            if not _INT_MIN <= v < _INT_END:
                raise OpError("bad_body", "integer out of range")
        elif not _check_value(v, depth + 1, keys):
            ordered = False
    return ordered


def _check_value(x: Any, depth: int, keys: bool = True) -> bool:
    """Body values are restricted to types that every implementation decodes identically:
    no floats (determinism), no tags, no non-text map keys. Returns whether every map below
    ``x`` has its keys in canonical order (by UTF-8 length, then bytewise). ``keys=False``:
    the maps' keys are known to be text in canonical order (libipld's decoder made them), and
    are not looked at.

    Leaves directly inside a map or array are checked inline (it runs for every op received);
    the result is the same as checking each through a recursive call."""
    if depth > MAX_BODY_DEPTH:
        raise OpError("bad_body", "body nested too deeply")
    t = type(x)
    inline = depth < MAX_BODY_DEPTH  # children are at depth + 1, still within the bound
    if t is dict:
        ordered = _children_ordered(x.values(), inline, depth, keys)
        if not keys:
            return ordered
        last = None
        for k in x:
            if type(k) is not str:
                raise OpError("bad_body", "map keys must be text")
            key = k.encode()
            if last is not None and (len(last), last) >= (len(key), key):
                ordered = False
            last = key
        return ordered
    if t is list:
        return _children_ordered(x, inline, depth, keys)
    if t is int:
        if not _INT_MIN <= x < _INT_END:
            raise OpError("bad_body", "integer out of range")
    elif t not in _LEAVES:
        raise OpError("bad_body", f"{t.__name__} values are not allowed in a body")
    return True
